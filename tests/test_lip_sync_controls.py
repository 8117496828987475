"""Lip-sync controls: `lip_sync_offset_ms` moves what the frames hear against the clip while the
muxed sound stays; `lip_sync=auto` measures the finished frames and moves the muxed sound by the
measured offset when it is over one frame, and the manifest says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from sonic_ext import GenerateRequest, GenerationParams, InputError, SonicService
from sonic_ext.lip_sync import AutoCorrection, check_video
from sonic_ext.media.encode import write_mp4
from sonic_ext.provenance.labels import GENERATION_LABEL
from sonic_ext.sonic.audio_features import SAMPLE_RATE, delayed, log_mel_features
from tests.conftest import consent_ids
from tests.talking_video import FPS, MouthWarp, speech_like, talking_parts
from tests.test_segments import muxed_sound

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
MEL_HOP_MS = 10  # whisper's log-mel frames


def test_the_offset_delays_what_whisper_hears_by_whole_steps() -> None:
    speech = speech_like(4.0)[0]
    extractor = WhisperFeatureExtractor()
    plain = log_mel_features(speech, extractor)[0].numpy()
    for offset_ms in (40, -60):
        heard = log_mel_features(delayed(speech, offset_ms * SAMPLE_RATE // 1000),
                                 extractor)[0].numpy()
        hops = offset_ms // MEL_HOP_MS
        inside = slice(10, 380)  # the 4 s clip's mel frames, away from its padded ends
        shifted = np.roll(plain, hops, axis=1)
        assert np.abs(heard[:, inside] - shifted[:, inside]).max() < 1e-4, offset_ms
        assert np.abs(heard[:, inside] - plain[:, inside]).max() > 0.5
    assert len(delayed(speech, 800)) == len(speech) == len(delayed(speech, -800))


def test_offsets_off_the_20_ms_grid_or_range_are_refused() -> None:
    with pytest.raises(InputError, match="lip_sync_offset_ms: must be a multiple of 20, got 30"):
        GenerationParams(lip_sync_offset_ms=30).validate()
    with pytest.raises(InputError, match="lip_sync_offset_ms: must be between -200 and 200"):
        GenerationParams(lip_sync_offset_ms=220).validate()
    with pytest.raises(InputError, match="lip_sync: must be one of off, auto"):
        GenerationParams(lip_sync="on").validate()


@pytest.fixture(scope="module")
def warp() -> MouthWarp:
    return MouthWarp()


@pytest.mark.parametrize(("offset_ms", "moved_ms"), [(120, 120), (-160, -160), (20, 0)])
def test_auto_moves_the_muxed_sound_by_an_offset_over_one_frame(
        warp: MouthWarp, tmp_path: Path, offset_ms: int, moved_ms: int) -> None:
    """The encoding step as a generation runs it, on frames whose mouth is known to be off."""
    frames, speech = talking_parts(tmp_path, offset_ms, seconds=5, warp=warp)
    correction = AutoCorrection(speech, None, FPS)
    out = tmp_path / "corrected.mp4"
    write_mp4(correction.observing(frames), out, fps=FPS, audio=speech,
              sound_advance_ms=correction.sound_advance_ms)
    record = correction.record()
    assert record["measured"]["offset_ms"] == offset_ms and record["measured"]["reliable"]
    assert record["sound_advanced_ms"] == moved_ms
    after = check_video(out)
    assert abs(after.offset_ms - (offset_ms - moved_ms)) <= 20, after  # in sync now
    assert after.seconds == pytest.approx(5.0, abs=1 / FPS)


def test_a_generation_hears_the_offset_keeps_its_sound_and_records_auto(
        obama_consented: SonicService, tmp_path: Path) -> None:
    speech = tmp_path / "speech.wav"
    import soundfile as sf
    sf.write(speech, speech_like(2.0)[0], SAMPLE_RATE)
    base = GenerationParams(steps=1, min_resolution=256, seed=0, interpolate=False)
    made = {}
    for name, params in (("plain", base), ("moved", GenerationParams(
            **{**base.to_dict(), "lip_sync_offset_ms": 40, "lip_sync": "auto"}))):
        out = tmp_path / f"{name}.mp4"
        obama_consented.generate(GenerateRequest(FACES / "obama2.jpg", speech, out,
                                                 "education", params,
                                                 consent_ids=consent_ids(obama_consented)))
        made[name] = out
    report = obama_consented.verify(made["moved"])
    assert report.verdict == "authentic"
    generation = report.c2pa["assertions"][GENERATION_LABEL]
    assert generation["parameters"]["lip_sync_offset_ms"] == 40
    lip_sync = generation["lip_sync"]
    # test weights draw no mouth that follows the sound: measured, not acted on
    assert lip_sync["mode"] == "auto" and lip_sync["sound_advanced_ms"] == 0
    assert lip_sync["measured"]["status"] in ("measured", "no_face") and not lip_sync[
        "measured"]["reliable"]
    plain_report = obama_consented.verify(made["plain"])
    assert "lip_sync" not in plain_report.c2pa["assertions"][GENERATION_LABEL]
    # the muxed sound is where it was; the pictures heard it 40 ms later
    assert np.array_equal(muxed_sound(made["plain"])[0], muxed_sound(made["moved"])[0])
    assert not np.array_equal(first_frames(made["plain"]), first_frames(made["moved"]))


def first_frames(video: Path) -> np.ndarray:
    import av
    with av.open(str(video)) as container:
        return np.stack([frame.to_ndarray(format="rgb24")
                         for _, frame in zip(range(10), container.decode(video=0))])
