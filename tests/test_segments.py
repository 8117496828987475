"""Segments: `start` and `duration` animate part of the speech. The video is as long as the
segment to one frame, its sound is that part of the clip, the manifest records both, and values
outside the clip are refused before any work, naming the clip's length."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from sonic_ext import GenerateRequest, GenerationParams, InputError, SonicService
from sonic_ext.adapters import cli
from sonic_ext.media.audio import speech_segment
from sonic_ext.media.encode import probe
from tests.conftest import consent_ids

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
PITCHES = (300.0, 600.0, 900.0)  # one second of each: which part was muxed is audible


def three_tones(path: Path, rate: int = 16000) -> Path:
    t = np.arange(rate) / rate
    sf.write(path, np.concatenate([0.3 * np.sin(2 * np.pi * f * t) for f in PITCHES]), rate)
    return path


def pitch_of(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(spectrum.argmax())])


def muxed_sound(video: Path) -> tuple[np.ndarray, int]:
    with av.open(str(video)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().mean(axis=0) for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def test_a_segment_is_checked_against_the_clip_naming_its_length() -> None:
    assert speech_segment(0.0, 0.0, 3.0) == (0.0, 3.0)  # the defaults: the whole clip
    assert speech_segment(1.0, 0.0, 3.0) == (1.0, 3.0)  # duration 0: to the end
    assert speech_segment(1.0, 2.02, 3.0) == (1.0, 3.0)  # within a frame of the end
    with pytest.raises(InputError, match=r"start: 3.5 s is at or past the end of the 3.00 s "):
        speech_segment(3.5, 0.0, 3.0)
    with pytest.raises(InputError) as caught:
        speech_segment(1.0, 2.5, 3.0)
    assert caught.value.field == "duration" and "ends after the 3.00 s speech clip" in str(
        caught.value) and caught.value.hint == "at most 2.00 s from 1 s"
    with pytest.raises(InputError, match="the segment is 0.20 s of the 3.00 s clip"):
        speech_segment(2.8, 0.0, 3.0)


def test_the_video_is_the_segment_with_its_own_sound(obama_consented: SonicService,
                                                     tmp_path: Path) -> None:
    speech = three_tones(tmp_path / "three.wav")
    out = tmp_path / "middle.mp4"
    params = GenerationParams(steps=1, min_resolution=256, seed=0, start=1.0, duration=1.2)
    result = obama_consented.generate(GenerateRequest(
        FACES / "obama2.jpg", speech, out, "education", params,
        consent_ids=consent_ids(obama_consented)))
    info = probe(out)
    assert abs(info["video_s"] - 1.2) <= 1 / 25 and abs(info["audio_s"] - 1.2) <= 1 / 25, info
    sound, rate = muxed_sound(out)
    assert pitch_of(sound[: int(0.9 * rate)], rate) == pytest.approx(600, abs=10)  # 2nd second
    assert pitch_of(sound[-int(0.15 * rate):], rate) == pytest.approx(900, abs=20)  # then 3rd
    assert obama_consented.verify(out).verdict == "authentic"
    record = obama_consented.registry.find_generation(watermark_id=result.watermark_id)
    assert record is not None
    assert (record.parameters["start"], record.parameters["duration"]) == (1.0, 1.2)


def test_an_out_of_range_segment_is_refused_before_any_work(
        obama_consented: SonicService, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    speech = three_tones(tmp_path / "three.wav")
    out = tmp_path / "never.mp4"
    code = cli.main(["--home", str(obama_consented.settings.home), "generate", "--image",
                     str(FACES / "obama2.jpg"), "--audio", str(speech), "--out", str(out),
                     "--purpose", "education", "--start", "5", *sum(
                         (["--consent", cid] for cid in consent_ids(obama_consented)), [])])
    assert code == 2
    assert "error: --start: 5 s is at or past the end of the 3.00 s speech clip" in \
        capsys.readouterr().err
    assert not out.exists() and obama_consented.registry.published_watermark_ids() == []
