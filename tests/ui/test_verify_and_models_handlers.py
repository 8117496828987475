"""The Verify and Models tabs' handlers."""

from __future__ import annotations

import html
import os
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.ui.models import ModelsHandlers
from sonic_ext.adapters.ui.verify import VerifyHandlers
from tests.servers import free_port


def test_a_file_without_provenance_gets_its_verdict_and_report(service: SonicService,
                                                               portrait: Path) -> None:
    verdict, report_file, inline = VerifyHandlers(service).verify(str(portrait))
    assert "sonic-verdict-no-provenance" in verdict
    assert "neither a C2PA manifest nor our watermark was found" in verdict
    report = Path(report_file)
    # private to the server's user, and outside outputs/ (only published files live there)
    assert report.parent == service.settings.cache_dir / "reports"
    assert report.parent.stat().st_mode & 0o777 == 0o700
    assert list(service.settings.outputs_dir.iterdir()) == []
    assert report.name.startswith("portrait-") and report.name.endswith(".verify.html")
    # the report inline: the whole file, escaped into a sandboxed iframe
    assert inline.startswith("<iframe class='sonic-report-frame' sandbox=''")
    assert html.escape(report.read_text(encoding="utf-8"), quote=True) in inline


def test_verify_refuses_nothing_and_unsupported_files(service: SonicService,
                                                      tmp_path: Path) -> None:
    handlers = VerifyHandlers(service)
    with pytest.raises(gr.Error, match="Drop a file to verify first"):
        handlers.verify(None)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(gr.Error, match="file: cannot verify .txt"):
        handlers.verify(str(notes))
    assert not (service.settings.cache_dir / "reports").exists()


def test_the_lip_sync_check_says_the_offset_and_how_to_correct_it(service: SonicService,
                                                                    tmp_path: Path) -> None:
    from tests.talking_video import speech_like, talking_video, write_wav
    handlers = VerifyHandlers(service)
    shown = handlers.sync_check(str(talking_video(tmp_path / "talk.mp4", -120, seconds=4)))
    assert "data-status='measured' data-offset='-120'" in shown
    assert "the sound is 120 ms early" in shown
    assert "move the sound 120 ms later, or generate again with Lip-sync offset -120 ms" in shown
    with pytest.raises(gr.Error, match="Drop a video to check its lip sync first"):
        handlers.sync_check(None)
    with pytest.raises(gr.Error, match="has no video stream"):
        handlers.sync_check(str(write_wav(tmp_path / "speech.wav", speech_like(1.0)[0])))


def test_reports_older_than_a_day_are_removed_when_the_next_is_written(
        service: SonicService, portrait: Path) -> None:
    handlers = VerifyHandlers(service)
    old = Path(handlers.verify(str(portrait))[1])
    os.utime(old, (time.time() - 86400 - 5,) * 2)
    recent = Path(handlers.verify(str(portrait))[1])
    assert recent.is_file() and not old.exists()


def test_the_models_table_follows_the_folder(service: SonicService) -> None:
    handlers = ModelsHandlers(service)
    rows, summary = handlers.refresh()
    assert summary.endswith("13 of 13 files need attention.")
    assert ["RIFE/flownet.pkl", "rife", "missing", "", "12.2 MB"] in rows
    rife = service.settings.models_dir / "RIFE" / "flownet.pkl"
    rife.parent.mkdir(parents=True)
    with rife.open("wb") as fh:
        fh.truncate(12_186_817)
    rows, summary = handlers.refresh()
    assert summary.endswith("12 of 13 files need attention.")
    assert ["RIFE/flownet.pkl", "rife", "present", "12.2 MB", "12.2 MB"] in rows
    with rife.open("r+b") as fh:
        fh.truncate(12_186_000)
    rows, _ = handlers.refresh()
    assert [r for r in rows if r[0] == "RIFE/flownet.pkl"][0][3:] == ["12,186,000 bytes",
                                                                       "12,186,817 bytes"]


def _with_admin_token(service: SonicService) -> SonicService:
    return SonicService(replace(service.settings, admin_token="tok"))


def test_the_gpu_memory_estimate_shows_each_offload_mode(service: SonicService) -> None:
    shown = ModelsHandlers(service).gpu_memory(512, 10, "bf16")
    assert "Estimated peak GPU memory for 10 s at 512x512 (bf16)" in shown
    for mode in ("none", "model", "sequential"):
        assert f"offload {mode}" in shown
    assert "no CUDA GPU" in shown
    refused = ModelsHandlers(service).gpu_memory(512, 0, "fp16")
    assert "sonic-notice-error" in refused and "seconds: must be more than 0" in refused


def test_a_download_needs_the_admin_token(service: SonicService,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []
    monkeypatch.setattr(SonicService, "download_models", lambda *a: asked.append(a) or [])
    notice, _rows, _summary = list(ModelsHandlers(service).download("", "guess"))[-1]
    assert "model downloads are disabled here: no admin token is configured" in notice
    handlers = ModelsHandlers(_with_admin_token(service))
    for token in ("", "guess"):
        notice, _rows, _summary = list(handlers.download("", token))[-1]
        assert "a valid admin token is required for model downloads" in notice
    assert asked == []  # nothing fetched, not even a request
    notice, _rows, _summary = list(handlers.download("", "tok"))[-1]
    assert len(asked) == 1 and "Nothing to download" in notice


def test_a_complete_folder_has_nothing_to_download(obama_consented: SonicService) -> None:
    updates = list(ModelsHandlers(_with_admin_token(obama_consented)).download("", "tok"))
    notice, rows, summary = updates[-1]
    assert "Nothing to download: every file is present." in notice
    assert summary.endswith("ready (seeded test weights, not the real model).")
    assert len(rows) == 13


def test_offline_the_download_says_what_to_fetch_and_where(service: SonicService,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # The network is really unreachable: every HTTPS request goes to a closed local port.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    notice, _rows, summary = list(ModelsHandlers(_with_admin_token(service))
                                  .download("hf_dummy", "tok"))[-1]
    assert "sonic-notice-error" in notice
    assert "could not download 13 file(s)" in notice
    assert ("Sonic/unet.pth &lt;- https://huggingface.co/LeonJoe13/Sonic/resolve/main/Sonic/"
            "unet.pth") in notice
    assert f"below {service.settings.models_dir}" in notice
    assert summary.endswith("13 of 13 files need attention.")
