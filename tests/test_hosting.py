"""A host (the WebUI) wraps every generation: it sees the progress, and its interrupt cancels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sonic_ext import (Cancelled, CancelToken, GenerateRequest, GenerationParams, ProgressEvent,
                       SonicService)
from sonic_ext.progress import ProgressCallback
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
FAST = GenerationParams(steps=2, min_resolution=256, seed=0)


class RecordingHost:
    """Records what a WebUI adapter would do with the generation it wraps."""

    def __init__(self, interrupt_at_step: int | None = None) -> None:
        self.calls: list[str] = []
        self.events: list[ProgressEvent] = []
        self.interrupt_at_step = interrupt_at_step

    @contextmanager
    def generation(self, cancel: CancelToken) -> Iterator[ProgressCallback]:
        self.calls.append("enter")

        def on_progress(event: ProgressEvent) -> None:
            self.events.append(event)
            if event.stage == "denoise" and event.step == self.interrupt_at_step:
                cancel.cancel("interrupted in the host")

        try:
            yield on_progress
        finally:
            self.calls.append("exit")

    def published(self, out: Path) -> None:
        self.calls.append(f"published {out.name}")

    def preference(self, name: str, default: object) -> object:
        return default


def _hosted(service: SonicService, host: RecordingHost) -> SonicService:
    return SonicService(service.settings, host=host)


def test_the_host_wraps_a_generation_and_sees_its_progress(obama_consented: SonicService,
                                                           tmp_path: Path) -> None:
    host = RecordingHost()
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    seen: list[ProgressEvent] = []
    result = _hosted(obama_consented, host).generate(
        GenerateRequest(FACES / "obama2.jpg", speech, tmp_path / "out.mp4", "education", FAST,
                        consent_ids=consent_ids(obama_consented)),
        progress=seen.append)
    assert result.out.is_file()
    assert host.calls == ["enter", "exit", "published out.mp4"]  # told once it is out
    denoise = [e for e in host.events if e.stage == "denoise"]
    assert denoise and denoise[-1].step == denoise[-1].total
    assert [e for e in seen if e.stage == "denoise"] == denoise  # the caller sees the same


def test_an_interrupt_in_the_host_cancels_and_writes_nothing(obama_consented: SonicService,
                                                             tmp_path: Path) -> None:
    host = RecordingHost(interrupt_at_step=1)
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    out = tmp_path / "out.mp4"
    with pytest.raises(Cancelled, match="interrupted in the host"):
        _hosted(obama_consented, host).generate(
            GenerateRequest(FACES / "obama2.jpg", speech, out, "education", FAST,
                            consent_ids=consent_ids(obama_consented)))
    assert host.calls == ["enter", "exit"]  # nothing published: the host is not told
    assert not out.exists() and list(tmp_path.glob("*.mp4*")) == []
