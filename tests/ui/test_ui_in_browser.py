"""The UI in a real browser (Debian's chromium, headless, driven by Playwright).

The page is the same gr.Blocks a WebUI shows in its Sonic tab. Under gradio 4 it is served by
the standalone app; under gradio 3.41 as AUTOMATIC1111 serves it: queued, mounted in FastAPI,
with `javascript/*.js` injected into the page. Screenshots land in the test's tmp folder, or in
$SONIC_UI_SCREENSHOTS when set, to be looked at.
"""

from __future__ import annotations

import base64
import inspect
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import gradio as gr
import pytest
from fastapi import FastAPI
from playwright.sync_api import Locator, Page, Response, expect

from sonic_ext import Settings, SonicService
from sonic_ext.adapters.api.auth import ApiAuth
from sonic_ext.adapters.app import create_app
from sonic_ext.adapters.ui import build_ui
from sonic_ext.adapters.ui.compat import GRADIO_MAJOR
from sonic_ext.package_data import data_path
from tests.conftest import consent_ids, write_tone_wav
from tests.evidence import write_release_pdf
from tests.servers import serve_in_thread
from tests.ui.browser import browser

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
ADMIN_TOKEN = "browser-admin-token"
GENERATION_S = 240_000  # ms: a tiny-weights generation takes 15-60 s on a busy 2-core CPU


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SONIC_UI_SCREENSHOTS") or tmp_path / "screenshots") / \
        f"gradio{GRADIO_MAJOR}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def admin_service(tmp_path: Path, tiny_models: Path) -> SonicService:
    """Tiny weights, nobody enrolled yet, consent admin through the UI enabled."""
    settings = Settings.from_environment({}, home=tmp_path / "home", models_dir=tiny_models,
                                         admin_token=ADMIN_TOKEN)
    settings.ensure_dirs()
    return SonicService(settings)


@contextmanager
def served(service: SonicService) -> Iterator[tuple[str, str]]:
    """(base URL, script a host injects): the standalone app on gradio 4; on gradio 3.41 the
    page as A1111 serves it, its scripts injected by the host."""
    if GRADIO_MAJOR >= 4:
        with serve_in_thread(create_app(service, ApiAuth())) as base:
            yield base, ""
        return
    ui = build_ui(service)
    ui.queue()
    scripts = "\n".join(p.read_text() for p in sorted(data_path("javascript").glob("*.js")))
    with serve_in_thread(gr.mount_gradio_app(FastAPI(), ui, path="/"), ready_path="/") as base:
        yield base, scripts


@pytest.fixture
def open_ui() -> Iterator[Callable[[SonicService], Page]]:
    """Serve a service's UI and open it in a fresh page."""
    with browser() as chrome, ExitStack() as servers:
        def open_page(service: SonicService) -> Page:
            base, injected = servers.enter_context(served(service))
            page = chrome.new_page(viewport={"width": 1280, "height": 1000})
            if injected:
                page.add_init_script(injected)
            page.goto(base + "/")
            expect(by_id(page, "sonic_generate")).to_be_visible(timeout=30_000)
            page.evaluate(RECORD_STATUS)
            return page

        yield open_page


# Every text the status line shows, kept in the page: steps flash by too fast to poll.
RECORD_STATUS = """() => {
  window.sonicStatusLog = [];
  new MutationObserver(() => {
    const el = document.querySelector('#sonic_status');
    const text = el ? el.innerText.trim() : '';
    if (text && window.sonicStatusLog.at(-1) !== text) window.sonicStatusLog.push(text);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


# What "Tell me when it is done" does, kept in the page: each tone of the chime, each browser
# notification shown (the real one is shown too); the user has gone to another tab meanwhile.
RECORD_TELLING = """() => {
  window.sonicTold = {tones: 0, notes: []};
  const tone = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () {
    window.sonicTold.tones += 1;
    return tone.call(this);
  };
  const Real = window.Notification;
  window.Notification = function (title, options) {
    window.sonicTold.notes.push(title + ": " + options.body);
    return new Real(title, options);
  };
  Object.defineProperty(window.Notification, "permission", {get: () => Real.permission});
  window.Notification.requestPermission = () => Real.requestPermission();
  document.hasFocus = () => false;
}"""


def set_number(page: Page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def choose(page: Page, elem_id: str, value: str) -> None:
    """Choose an option of a (single-choice) dropdown."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    option = page.locator(f"#{elem_id} ul.options li", has_text=value)
    expect(option).to_be_visible(timeout=20_000)
    option.click()
    box.blur()
    expect(box).to_have_value(value)


def choose_purpose(page: Page, purpose: str) -> None:
    """Choose among the purposes the consents granted to this page cover."""
    choose(page, "sonic_purpose", purpose)


def pick_consent(page: Page, consent_id: str) -> None:
    """Choose a consent in the Generate tab's picker, from the consents granted to this page."""
    page.locator("#sonic_consents input").first.click()
    option = page.locator("#sonic_consents ul.options li", has_text=consent_id)
    expect(option).to_be_visible(timeout=20_000)
    option.click()
    box = page.locator("#sonic_consents input").first
    box.press("Escape")
    box.blur()
    expect(by_id(page, "sonic_consents")).to_contain_text(consent_id)


def start_generation(page: Page, portrait: Path, speech: Path, purpose: str, steps: int,
                     consent_id: str | None) -> None:
    """Fill in the Generate tab and start; `consent_id` is picked unless None (picked already:
    selecting the tab lists the consents granted again and keeps the picks)."""
    tab_button(page, "Generate").click()
    page.locator("#sonic_portrait input[type=file]").set_input_files(str(portrait))
    page.locator("#sonic_speech input[type=file]").set_input_files(str(speech))
    choose_purpose(page, purpose)
    if consent_id is not None:
        pick_consent(page, consent_id)
    set_number(page, "sonic_steps", steps)
    set_number(page, "sonic_min_resolution", 256)
    set_number(page, "sonic_seed", 0)
    by_id(page, "sonic_generate").click()


def upload(page: Page, elem_id: str, file: Path) -> None:
    """Choose a file in a `gr.File` box and wait until gradio has sent it to the server, as a
    person sees it listed before clicking on: gradio 3.41 sends a file whose upload is still
    running as an empty one (CI's slower machine clicked that soon once)."""
    def sent(response: Response) -> bool:
        return response.request.method == "POST" and "/upload" in response.url

    with page.expect_response(sent, timeout=30_000) as answer:
        page.locator(f"#{elem_id} input[type=file]").set_input_files(str(file))
    assert answer.value.ok, answer.value.status
    answer.value.finished()
    expect(by_id(page, elem_id)).to_contain_text(file.stem)


def by_id(page: Page, elem_id: str) -> Locator:
    """The component with this elem_id (gradio 3.41 repeats a Markdown's or HTML's id on its
    inner element; the first match is the whole component)."""
    return page.locator(f"#{elem_id}").first


def tab_button(page: Page, name: str) -> Locator:
    """A tab's button (role "tab" on gradio 4, a plain button on 3.41)."""
    return page.locator("#sonic_tabs .tab-nav button", has_text=re.compile(rf"^\s*{name}\s*$"))


def status_log(page: Page) -> list[str]:
    return page.evaluate("() => window.sonicStatusLog")


def test_tabs_render_and_the_models_tab_checks_the_folder(service: SonicService, open_ui,
                                                          shots: Path) -> None:
    page = open_ui(service)
    for tab in ("Generate", "History", "Consent", "Verify", "Models"):
        expect(tab_button(page, tab)).to_be_visible()
    expect(by_id(page, "sonic_advanced")).to_contain_text("Advanced parameters")
    assert page.evaluate("typeof window.sonicUi") == "object"  # javascript/ is loaded

    tab_button(page, "Consent").click()
    expect(by_id(page, "sonic_consent_disabled")).to_contain_text("no admin token")

    tab_button(page, "Models").click()
    summary = by_id(page, "sonic_models_summary")
    expect(summary).to_contain_text("13 of 13 files need attention", timeout=20_000)
    rife = service.settings.models_dir / "RIFE" / "flownet.pkl"
    rife.parent.mkdir(parents=True)
    with rife.open("wb") as fh:
        fh.truncate(12_186_817)
    by_id(page, "sonic_models_refresh").click()
    expect(summary).to_contain_text("12 of 13 files need attention", timeout=20_000)
    row = page.locator("#sonic_models_table tr", has_text="RIFE/flownet.pkl")
    expect(row).to_contain_text("present")

    rife.unlink()  # selecting the tab again checks the folder again
    tab_button(page, "Verify").click()
    tab_button(page, "Models").click()
    expect(summary).to_contain_text("13 of 13 files need attention", timeout=20_000)
    page.screenshot(path=str(shots / "models-tab.png"), full_page=True)


def test_enrol_generate_then_verify_the_output(admin_service: SonicService, open_ui,
                                               tmp_path: Path, shots: Path) -> None:
    evidence = write_release_pdf(tmp_path / "release.pdf")
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.5)
    page = open_ui(admin_service)

    # 1. Consent tab: a wrong token is refused, the right one enrols Barack Obama for this
    #    page's users (no login here: the requester is "ui", so the grantee is "any").
    expect(by_id(page, "sonic_consents")).to_be_visible()
    expect(page.locator("#sonic_consents ul.options li")).to_have_count(0)  # nothing granted
    tab_button(page, "Consent").click()
    page.locator("#sonic_consent_name textarea").fill("Barack Obama")
    page.locator("#sonic_consent_purposes textarea").fill("education")
    page.locator("#sonic_consent_grantees textarea").fill("any")
    upload(page, "sonic_consent_portraits", FACES / "obama.jpg")
    upload(page, "sonic_consent_evidence", evidence)
    page.locator("#sonic_admin_token input").fill("wrong")
    by_id(page, "sonic_consent_add").click()
    expect(page.get_by_text("a valid admin token is required").first).to_be_visible(
        timeout=20_000)
    assert admin_service.list_consents() == []
    page.locator("#sonic_admin_token input").fill(ADMIN_TOKEN)
    by_id(page, "sonic_consent_add").click()
    expect(by_id(page, "sonic_consent_result")).to_contain_text("Recorded consent",
                                                                  timeout=60_000)
    [consent] = admin_service.list_consents()
    consent_id = consent.id
    assert consent.grantees == ("any",)
    expect(by_id(page, "sonic_consent_table")).to_contain_text("Barack Obama")
    expect(by_id(page, "sonic_consent_table")).to_contain_text(consent.subject_id)
    page.screenshot(path=str(shots / "consent-enrolled.png"), full_page=True)

    # 2. Generate tab: pick the consent granted, then a signed video, with live progress and
    #    its provenance summary.
    tab_button(page, "Generate").click()
    expect(by_id(page, "sonic_weights_notice")).to_contain_text("TEST WEIGHTS are loaded")
    by_id(page, "sonic_granted").get_by_text("Consents granted to you").click()
    expect(by_id(page, "sonic_granted_table")).to_contain_text(consent_id)
    pick_consent(page, consent_id)
    expect(by_id(page, "sonic_consents")).to_contain_text("Barack Obama — education, no expiry")
    page.screenshot(path=str(shots / "generate-consent-picked.png"), full_page=True)
    choose(page, "sonic_preset", "fast")  # a preset fills the parameters
    expect(page.locator("#sonic_steps input[type=number]")).to_have_value("10")
    expect(page.locator("#sonic_interpolate input[type=checkbox]")).not_to_be_checked()
    choose(page, "sonic_preset", "standard")
    expect(page.locator("#sonic_steps input[type=number]")).to_have_value("25")
    expect(page.locator("#sonic_interpolate input[type=checkbox]")).to_be_checked()
    page.context.grant_permissions(["notifications"])
    page.evaluate(RECORD_TELLING)
    page.locator("#sonic_notify input[type=checkbox]").check()
    start_generation(page, FACES / "obama2.jpg", speech, "education", steps=1,
                     consent_id=None)
    expect(by_id(page, "sonic_speech_duration")).to_contain_text("1.5 s")
    summary = by_id(page, "sonic_provenance")
    expect(summary).to_contain_text("authentic", timeout=GENERATION_S)
    expect(summary).to_contain_text(consent_id)
    expect(summary).to_contain_text("development credentials")
    expect(by_id(page, "sonic_status")).to_contain_text("Done in")
    log = status_log(page)
    assert any(text.startswith("Denoising") for text in log), log
    assert any(text.startswith("Verifying the output") for text in log), log
    expect(page.locator("#sonic_report_file a[href$='.verify.html']")).to_be_attached()
    expect(page.locator("#sonic_video video")).to_have_attribute("src", re.compile(r"\.mp4"))
    page.wait_for_function("() => document.querySelector('#sonic_video video').readyState >= 1")
    [video] = admin_service.settings.outputs_dir.glob("obama2-*.mp4")  # the portrait's name
    assert admin_service.registry.find_generation(watermark_id=re.search(
        r"Watermark\s+(\S+)", summary.inner_text()).group(1)) is not None
    page.screenshot(path=str(shots / "generate-done.png"), full_page=True)
    page.wait_for_function("() => window.sonicTold.notes.length > 0", timeout=10_000)
    told = page.evaluate("() => window.sonicTold")
    assert told["tones"] == 2 and len(told["notes"]) == 1, told  # once: a chime of two tones
    assert told["notes"][0].startswith("Sonic: Done in") and video.name in told["notes"][0]

    # 3. Verify tab: drop the output anywhere on the tab (javascript/ hands it on).
    tab_button(page, "Verify").click()
    drop = page.evaluate_handle(
        """(b64) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                      const dt = new DataTransfer();
                      dt.items.add(new File([bytes], 'from-ui.mp4', {type: 'video/mp4'}));
                      return dt; }""", base64.b64encode(video.read_bytes()).decode())
    by_id(page, "sonic_verify_hint").dispatch_event("drop", {"dataTransfer": drop})
    verdict = by_id(page, "sonic_verdict")
    expect(verdict).to_contain_text("authentic", timeout=120_000)
    expect(verdict).to_contain_text(f"Consent {consent_id} (Barack Obama): in force")
    expect(page.locator("#sonic_verify_report_file a[href$='.verify.html']")).to_be_attached()
    report = page.frame_locator("#sonic_verify_report iframe")
    expect(report.locator("h1")).to_be_visible()
    expect(report.locator("body")).to_contain_text("Authentic")
    page.screenshot(path=str(shots / "verify-authentic.png"), full_page=True)

    # 4. History tab: the output, verified again, and its settings back in the Generate tab.
    tab_button(page, "History").click()
    entry = page.locator("#sonic_history ul.options li", has_text=video.name)
    page.locator("#sonic_history input").first.click()
    expect(entry).to_be_visible(timeout=20_000)
    entry.click()
    expect(by_id(page, "sonic_history_verdict")).to_contain_text("authentic", timeout=120_000)
    expect(by_id(page, "sonic_history_table")).to_contain_text("signed · consent in force")
    expect(by_id(page, "sonic_history_settings")).to_contain_text(consent_id)
    expect(page.locator("#sonic_history_video video")).to_have_attribute("src",
                                                                        re.compile(r"\.mp4"))
    page.screenshot(path=str(shots / "history.png"), full_page=True)
    tab_button(page, "Generate").click()
    set_number(page, "sonic_steps", 7)  # changed since; the entry was made with 1 step
    tab_button(page, "History").click()
    by_id(page, "sonic_history_reuse").click()
    expect(by_id(page, "sonic_history_note")).to_contain_text("Settings copied")
    tab_button(page, "Generate").click()
    expect(page.locator("#sonic_steps input[type=number]")).to_have_value("1")
    expect(page.locator("#sonic_purpose input").first).to_have_value("education")
    expect(by_id(page, "sonic_consents")).to_contain_text(consent_id)


def test_cancel_stops_the_generation_and_nothing_is_written(obama_consented: SonicService,
                                                            open_ui, tmp_path: Path,
                                                            shots: Path) -> None:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.5)
    outputs = obama_consented.settings.outputs_dir
    page = open_ui(obama_consented)
    [consent_id] = consent_ids(obama_consented)
    start_generation(page, FACES / "obama2.jpg", speech, "education", steps=60,
                     consent_id=consent_id)
    status = by_id(page, "sonic_status")
    expect(status).to_contain_text("Denoising: step", timeout=GENERATION_S)
    page.screenshot(path=str(shots / "generate-progress.png"), full_page=True)
    generate = page.locator("#sonic_generate")
    expect(generate).to_be_disabled()  # one run at a time from a page
    by_id(page, "sonic_cancel").click()
    expect(status).to_contain_text("Cancelled: nothing was written.", timeout=120_000)
    expect(generate).to_be_enabled()
    log = status_log(page)
    assert any(re.search(r"step \d+ of \d+ · about [0-9a-z ]+ left", t) for t in log), log
    page.screenshot(path=str(shots / "generate-cancelled.png"), full_page=True)
    assert list(outputs.glob("*.mp4")) == []
    assert list(outputs.glob(".sonic-publish*")) == []


def test_a_reloaded_page_follows_its_running_job_until_cancelled(
        obama_consented: SonicService, open_ui, tmp_path: Path, shots: Path) -> None:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.5)
    page = open_ui(obama_consented)
    [consent_id] = consent_ids(obama_consented)
    start_generation(page, FACES / "obama2.jpg", speech, "education", steps=60,
                     consent_id=consent_id)
    expect(by_id(page, "sonic_status")).to_contain_text("Denoising: step", timeout=GENERATION_S)

    page.reload()  # the job goes on; the page that comes back shows it, Generate disabled,
    # and the settings it was started with
    expect(by_id(page, "sonic_status")).to_contain_text("Denoising: step", timeout=60_000)
    expect(page.locator("#sonic_generate")).to_be_disabled()
    expect(by_id(page, "sonic_status")).to_contain_text("Animating obama2.jpg with speech.wav")
    expect(page.locator("#sonic_steps input[type=number]")).to_have_value("60")
    expect(page.locator("#sonic_purpose input").first).to_have_value("education")
    expect(by_id(page, "sonic_consents")).to_contain_text(consent_id)
    page.screenshot(path=str(shots / "generate-reloaded.png"), full_page=True)
    by_id(page, "sonic_cancel").click()
    expect(by_id(page, "sonic_status")).to_contain_text("Cancelled: nothing was written.",
                                                        timeout=120_000)
    expect(page.locator("#sonic_generate")).to_be_enabled()
    assert list(obama_consented.settings.outputs_dir.glob("*.mp4")) == []


def test_a_new_user_tries_the_demo_from_the_page(admin_service: SonicService, open_ui,
                                                  shots: Path) -> None:
    page = open_ui(admin_service)  # nobody enrolled yet: the demo is offered
    expect(by_id(page, "sonic_demo_offer")).to_contain_text("New here?", timeout=20_000)
    by_id(page, "sonic_demo").click()
    expect(by_id(page, "sonic_status")).to_contain_text("DEMO done", timeout=GENERATION_S)
    expect(by_id(page, "sonic_provenance")).to_contain_text("authentic")
    expect(by_id(page, "sonic_provenance")).to_contain_text("TEST WEIGHTS")
    expect(page.locator("#sonic_video video")).to_have_attribute("src", re.compile(r"\.mp4"))
    page.screenshot(path=str(shots / "generate-demo.png"), full_page=True)
    assert admin_service.list_consents() == []  # the demo lives in its own home
    assert list((admin_service.settings.home / "demo" / "outputs").glob("demo-*.mp4"))


def test_a_face_without_consent_is_refused_in_the_page(obama_consented: SonicService,
                                                       open_ui, tmp_path: Path) -> None:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    page = open_ui(obama_consented)
    [consent_id] = consent_ids(obama_consented)
    start_generation(page, FACES / "biden.jpg", speech, "education", steps=1,
                     consent_id=consent_id)
    expect(by_id(page, "sonic_status")).to_contain_text("is not Barack Obama",
                                                        timeout=GENERATION_S)
    expect(page.locator("#sonic_generate")).to_be_enabled()  # a refusal ends the run too
    if "visible" in inspect.signature(gr.Error.__init__).parameters:  # gradio 4.38+
        page.wait_for_timeout(500)
        expect(page.locator(".toast-body:visible")).to_have_count(0)  # said inline, not twice
    assert list(obama_consented.settings.outputs_dir.glob("*.mp4")) == []


@pytest.mark.skipif(GRADIO_MAJOR < 4, reason="the standalone page is gradio 4; a WebUI serves "
                                            "its own page")
def test_the_standalone_page_asks_nothing_from_outside_the_machine(service: SonicService) -> None:
    # gradio's default theme asked Google Fonts for its fonts and its page template loaded a
    # script from cdnjs: a machine without internet waited for them
    with browser() as chrome, serve_in_thread(create_app(service, ApiAuth())) as base:
        page = chrome.new_page()
        left: list[str] = []

        def local_only(route) -> None:  # noqa: ANN001 - Playwright's Route
            if route.request.url.startswith(base):
                route.continue_()
            else:  # the network is blocked: anything that gets here would have left
                left.append(route.request.url)
                route.abort()

        page.route("**/*", local_only)
        blocked = []
        page.on("requestfailed", lambda request: blocked.append(request.failure)
                if not request.url.startswith(base) else None)
        response = page.goto(base + "/")
        expect(by_id(page, "sonic_generate")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)
        assert left == []
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert set(blocked) <= {"csp"}  # what the page template still names, the browser refuses
        fonts = page.evaluate("() => getComputedStyle(document.querySelector('.gradio-container'))"
                              ".fontFamily")
        assert "Source Sans Pro" not in fonts and "system-ui" in fonts
