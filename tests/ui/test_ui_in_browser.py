"""The standalone UI in a real browser (Debian's chromium, headless, driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from sonic_ext import SonicService
from sonic_ext.api.auth import ApiAuth
from sonic_ext.app import create_app
from tests.servers import serve_in_thread
from tests.ui.browser import browser


def test_tabs_render_and_the_models_tab_checks_the_folder(service: SonicService,
                                                          tmp_path: Path) -> None:
    with serve_in_thread(create_app(service, ApiAuth())) as base, browser() as chrome:
        page = chrome.new_page(viewport={"width": 1200, "height": 800})
        page.goto(base + "/")
        for tab in ("Generate", "Consent", "Verify", "Models"):
            expect(page.get_by_role("tab", name=tab)).to_be_visible(timeout=20_000)
        expect(page.locator("#sonic_generate")).to_be_visible()
        expect(page.locator("#sonic_consent_unavailable")).to_be_attached()

        page.get_by_role("tab", name="Models").click()
        summary = page.locator("#sonic_models_summary")
        summary.get_by_text("13 of 13 files need attention").wait_for(timeout=20_000)

        rife = service.settings.models_dir / "RIFE" / "flownet.pkl"
        rife.parent.mkdir(parents=True)
        with rife.open("wb") as fh:
            fh.truncate(12_186_817)
        page.locator("#sonic_models_refresh").click()
        summary.get_by_text("12 of 13 files need attention").wait_for(timeout=20_000)
        row = page.locator("#sonic_models_table tr", has_text="RIFE/flownet.pkl")
        expect(row).to_contain_text("present")
        page.screenshot(path=str(tmp_path / "models-tab.png"))
    assert (tmp_path / "models-tab.png").stat().st_size > 10_000
