""""Send to Sonic" under the WebUI's result gallery, through the host's paste-button mechanism
(fake host modules): our button joins the gallery's row, the picture reaches the Generate tab as
the portrait, and the consent gate checks it like any upload."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import gradio as gr
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters import webui
from sonic_ext.adapters.ui.compat import GRADIO_MAJOR
from sonic_ext.adapters.ui.generate import PARAM_ORDER, GenerateHandlers
from sonic_ext.contracts import GenerationParams
from tests.conftest import consent_ids, write_tone_wav
from tests.webui.host_page import RESULT_TABS, build_host_page

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
# the page script of the host whose gradio this is: A1111 (3.41) or Forge (4.x)
HOST_JS = (Path(__file__).resolve().parent / ("fake_forge" if GRADIO_MAJOR >= 4 else "fake_host")
           / "javascript" / "ui.js")


@pytest.fixture
def webui_service(fake_webui: ModuleType, obama_consented: SonicService,
                  tiny_models: Path) -> SonicService:
    from modules import script_callbacks, shared

    script_callbacks.clear_callbacks()
    webui.register()
    shared.cmd_opts.sonic_home = str(obama_consented.settings.home)
    shared.cmd_opts.sonic_models_dir = str(tiny_models)
    return webui.make_service()


def test_the_button_joins_the_gallery_row_and_targets_the_generate_tab(
        webui_service: SonicService) -> None:
    from modules import infotext_utils

    page = build_host_page([FACES / "obama2.jpg"])
    for tab in RESULT_TABS:
        [row] = [block for block in page.blocks.values()
                 if getattr(block, "elem_id", None) == f"image_buttons_{tab}"]
        assert [child.elem_id for child in row.children] == [
            f"{tab}_send_to_img2img", f"{tab}_send_to_inpaint", f"{tab}_send_to_extras",
            f"{tab}_send_to_sonic"]
    bindings = [b for b in infotext_utils.registered_param_bindings if b.tabname == "sonic"]
    assert [(b.paste_button.elem_id, b.source_image_component.elem_id) for b in bindings] == [
        (f"{tab}_send_to_sonic", f"{tab}_gallery") for tab in RESULT_TABS]
    assert infotext_utils.paste_fields["sonic"]["init_img"].elem_id == "sonic_sent_image"


def test_a_sent_picture_is_the_portrait_and_meets_the_gate(webui_service: SonicService,
                                                           tmp_path: Path) -> None:
    from modules import infotext_utils

    handlers = GenerateHandlers(webui_service)
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    params = {**GenerationParams().to_dict(), "seed": 0, "steps": 1, "min_resolution": 256}

    def send_and_generate(face: str) -> list[tuple]:
        # what the host's click does with the picked gallery item, then our tab's handler
        picture = infotext_utils.image_from_url_text([{"name": str(FACES / face),
                                                        "is_file": True}])
        portrait, preview, status = handlers.receive_sent(picture)
        assert portrait == preview and Path(portrait).suffix == ".png"
        assert oct(Path(portrait).parent.stat().st_mode & 0o777) == "0o700"
        assert "Portrait received from the WebUI" in status
        updates: list[tuple] = []
        updates.extend(handlers.run(gr.Request(), portrait, str(speech), "education",
                                    *(params[name] for name in PARAM_ORDER),
                                    list(consent_ids(webui_service))))
        return updates

    with pytest.raises(gr.Error, match="is not Barack Obama"):
        send_and_generate("biden.jpg")
    status, video = send_and_generate("obama2.jpg")[-1][1:3]
    assert "Done in" in status and Path(video).name.startswith("sent-")
    assert webui_service.verify(Path(video)).verdict == "authentic"
    assert handlers.receive_sent(None) == (gr.update(),) * 3  # nothing sent: nothing changes


def test_send_to_sonic_in_a_browser(webui_service: SonicService, tmp_path: Path) -> None:
    """The host's click (page-side gallery pick, then switch_to_sonic) in a real browser."""
    from fastapi import FastAPI
    from playwright.sync_api import expect

    from sonic_ext.package_data import data_path
    from tests.servers import serve_in_thread
    from tests.ui.browser import browser

    page_blocks = build_host_page([FACES / "obama2.jpg"])
    page_blocks.queue()
    scripts = "\n".join(path.read_text() for path in [
        *sorted(data_path("javascript").glob("*.js")), HOST_JS])
    with serve_in_thread(gr.mount_gradio_app(FastAPI(), page_blocks, path="/"),
                         ready_path="/") as base, browser() as chrome:
        page = chrome.new_page(viewport={"width": 1280, "height": 1000})
        page.add_init_script(scripts)
        page.goto(base + "/")
        send = page.locator("#txt2img_send_to_sonic")
        expect(send).to_be_visible(timeout=30_000)
        send.click()
        status = page.locator("#sonic_status").first
        expect(status).to_contain_text("Portrait received from the WebUI", timeout=60_000)
        expect(page.locator("#sonic_generate")).to_be_visible()  # the Sonic tab is shown
        expect(page.locator("#sonic_portrait")).to_contain_text(".png")
        page.screenshot(path=str(tmp_path / "send-to-sonic.png"), full_page=True)
    [sent] = (webui_service.settings.cache_dir / "sent").glob("sent-*.png")
    assert sent.stat().st_size > 0
