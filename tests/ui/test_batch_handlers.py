"""The Generate tab's Batch section: one portrait, many clips; each clip through the consent
gate on its own, the table following the jobs to their signed videos."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.ui.batch import BatchHandlers
from sonic_ext.adapters.ui.generate import PARAM_ORDER
from sonic_ext.contracts import GenerationParams
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
FAST = {**GenerationParams().to_dict(), "seed": 0, "steps": 1, "min_resolution": 256,
        "interpolate": False}


def run(service: SonicService, portrait: Path, clips: list[Path]) -> list[list[list[str]]]:
    values = [FAST[name] for name in PARAM_ORDER]
    return list(BatchHandlers(service).run(
        gr.Request(username="alice"), str(portrait), [str(c) for c in clips], "education",
        *values, list(consent_ids(service))))


def test_each_clip_is_its_own_signed_video_and_a_bad_one_is_reported(
        obama_consented: SonicService, tmp_path: Path) -> None:
    clips = [write_tone_wav(tmp_path / f"week{n}.wav", seconds=1.0) for n in (1, 2)]
    broken = tmp_path / "week3.wav"
    broken.write_bytes(b"RIFF" + bytes(60))
    tables = run(obama_consented, FACES / "obama2.jpg", [clips[0], broken, clips[1]])
    [first] = tables[0]  # shown as soon as it is checked (the worker may have begun it)
    assert first[0] == "week1.wav" and first[1] in ("queued", "running")
    final = tables[-1]
    assert [row[:2] for row in final] == [["week1.wav", "done"], ["week3.wav", "failed"],
                                          ["week2.wav", "done"]]
    assert final[1][3].startswith("audio:") and str(tmp_path) not in final[1][3]
    for row in (final[0], final[2]):
        video = obama_consented.settings.outputs_dir / row[2]
        assert row[2].startswith("obama2-") and len(row[3]) == 12  # the watermark ID
        assert obama_consented.verify(video).verdict == "authentic"


def test_a_portrait_without_consent_is_refused_for_every_clip(
        obama_consented: SonicService, tmp_path: Path) -> None:
    clip = write_tone_wav(tmp_path / "talk.wav", seconds=1.0)
    [final] = run(obama_consented, FACES / "biden.jpg", [clip, clip])[-1:]
    assert [row[1] for row in final] == ["refused", "refused"]
    assert list(obama_consented.settings.outputs_dir.glob("*.mp4")) == []
    with pytest.raises(gr.Error, match="Upload a portrait above and the speech clips"):
        run(obama_consented, FACES / "biden.jpg", [])
