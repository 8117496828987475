"""The Sonic section of the WebUI's Settings: harmless options only, each video also saved under
the WebUI's outputs folder (never outside the WebUI's folder, whatever an API client sets), and
the History tab's length; against the fake host modules, with a real generation."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from types import ModuleType

import gradio as gr
import pytest

from sonic_ext import GenerateRequest, GenerationParams, SonicService
from sonic_ext.adapters import webui
from sonic_ext.adapters.ui.history import HistoryHandlers
from sonic_ext.adapters.webui_settings import SECTION
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
SONIC_OPTIONS = {"sonic_save_to_webui_outputs", "sonic_webui_outputs_dir", "sonic_history_size",
                 "sonic_notify_when_done", "sonic_default_preset"}


@pytest.fixture
def webui_service(fake_webui: ModuleType, obama_consented: SonicService,
                  tiny_models: Path) -> SonicService:
    """The WebUI's service with our Settings section declared, as the host starts it."""
    from modules import script_callbacks, shared

    script_callbacks.clear_callbacks()
    webui.register()
    script_callbacks.ui_settings_callback()
    shared.cmd_opts.sonic_home = str(obama_consented.settings.home)
    shared.cmd_opts.sonic_models_dir = str(tiny_models)
    return webui.make_service()


def generate(service: SonicService, tmp_path: Path, name: str) -> Path:
    speech = write_tone_wav(tmp_path / f"{name}.wav", seconds=1.0)
    request = GenerateRequest(FACES / "obama2.jpg", speech, service.settings.outputs_dir /
                              f"{name}.mp4", "education",
                              GenerationParams(steps=1, min_resolution=256, seed=0),
                              consent_ids=consent_ids(service))
    return service.generate(request).out


def test_the_section_holds_only_harmless_options(webui_service: SonicService) -> None:
    from modules import shared

    ours = {key for key in shared.opts.data_labels if key.startswith("sonic_")}
    assert ours == SONIC_OPTIONS  # nothing about consent, signing, purposes or limits
    assert {shared.opts.data_labels[key].section for key in ours} == {SECTION}
    assert "sonic_webui_outputs_dir" in shared.restricted_opts  # --hide-ui-dir-config


def test_each_video_is_also_saved_under_the_webui_outputs_by_day(
        webui_service: SonicService, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from modules import paths_internal, shared

    out = generate(webui_service, tmp_path, "first")
    copy = Path(paths_internal.data_path) / "outputs" / "sonic" / date.today().isoformat() / \
        out.name
    assert copy.read_bytes() == out.read_bytes()  # the signed file itself
    assert webui_service.verify(copy).verdict == "authentic"
    assert [p.name for p in copy.parent.iterdir()] == [out.name]  # no temporary left

    # An API client points the folder outside the WebUI's folder: nothing is written there.
    outside = tmp_path / "elsewhere"
    assert shared.opts.set("sonic_webui_outputs_dir", str(outside), is_api=True)
    with caplog.at_level(logging.WARNING, logger="sonic_ext.adapters.webui_settings"):
        second = generate(webui_service, tmp_path, "second")
    assert second.is_file() and not outside.exists()
    assert "outside the WebUI's folder" in caplog.text
    assert shared.opts.set("sonic_webui_outputs_dir", "../../escape", is_api=True)
    generate(webui_service, tmp_path, "third")
    assert not (Path(paths_internal.data_path).parent.parent / "escape").exists()

    shared.opts.set("sonic_webui_outputs_dir", "outputs/talking", is_api=True)
    shared.opts.set("sonic_save_to_webui_outputs", False)  # turned off: no copy at all
    generate(webui_service, tmp_path, "fourth")
    assert not (Path(paths_internal.data_path) / "outputs" / "talking").exists()


def test_the_history_lists_as_many_as_the_setting_says(webui_service: SonicService,
                                                       tmp_path: Path) -> None:
    from modules import shared

    shared.opts.set("sonic_history_size", 5.0)  # a slider's value, as the host stores it
    assert webui_service.host.preference("history_size", 50) == 5
    shared.opts.set("sonic_history_size", "many")
    assert webui_service.host.preference("history_size", 50) == 50
    history = HistoryHandlers(webui_service, _jobs_with(webui_service, 7))
    shared.opts.set("sonic_history_size", 5)
    chooser, rows = history.listing(None, gr.Request(username="alice"))
    assert len(chooser["choices"]) == len(rows) == 5


def test_tell_me_when_done_starts_as_the_setting_says(webui_service: SonicService) -> None:
    from modules import shared

    from sonic_ext.adapters.ui.blocks import build_ui

    def notify_box() -> bool:
        [box] = [block for block in build_ui(webui_service).blocks.values()
                 if getattr(block, "elem_id", None) == "sonic_notify"]
        assert box.do_not_save_to_config  # the host's ui-config.json must not pin it
        return box.value

    assert notify_box() is False  # off until the user asks for it
    shared.opts.set("sonic_notify_when_done", True)
    assert notify_box() is True


def test_the_generate_tab_starts_with_the_default_preset(
        webui_service: SonicService, caplog: pytest.LogCaptureFixture) -> None:
    from modules import shared

    from sonic_ext.adapters.ui.blocks import build_ui

    def started_with() -> tuple[str, int, bool]:
        built = {getattr(block, "elem_id", None): block
                 for block in build_ui(webui_service).blocks.values()}
        return (built["sonic_preset"].value, built["sonic_steps"].value,
                built["sonic_interpolate"].value)

    choices = shared.opts.data_labels["sonic_default_preset"].component_args
    assert choices()["choices"] == ["fast", "standard", "quality"]  # and the policy's own
    assert started_with() == ("standard", 25, True)  # the official defaults
    shared.opts.set("sonic_default_preset", "fast")
    assert started_with() == ("fast", 10, False)
    shared.opts.set("sonic_default_preset", "gone")  # e.g. removed from the policy since
    with caplog.at_level(logging.WARNING, logger="sonic_ext.adapters.ui.generate"):
        assert started_with() == ("standard", 25, True)
    assert "the default preset 'gone' is not one of fast, standard, quality" in caplog.text


def _jobs_with(service: SonicService, count: int):  # noqa: ANN202 - a JobManager
    """A job manager that found `count` finished jobs of ui:alice in the job records."""
    from sonic_ext.adapters.jobs import Job, JobManager, JobStore
    from sonic_ext.contracts import GenerateResult

    store = JobStore(service.settings.home / "jobs")
    for index in range(count):
        out = service.settings.outputs_dir / f"old-{index}.mp4"
        out.write_bytes(b"\0" * 64)
        job = Job(f"{index:016x}", owner="ui:alice", purpose="education", state="done",
                  created_at=f"2026-12-0{index + 1}T10:00:00.000000Z",
                  result=GenerateResult(out, f"gen_{index}", f"{index:012x}", "con_x", "0" * 64,
                                        "development credentials", 1.0))
        store.save(job)
    return JobManager(service)
