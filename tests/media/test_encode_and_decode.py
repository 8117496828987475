"""MP4 writing (H.264 + AAC through PyAV) and speech decoding of every supported container."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from sonic_ext import InputError
from sonic_ext.media.encode import probe, write_mp4
from sonic_ext.sonic.audio_features import SAMPLE_RATE, load_audio
from tests.conftest import write_tone_wav


def chunks(count: int, size: int = 8, height: int = 128, width: int = 64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(size, 3, height, width, generator=generator) for _ in range(count)]


def test_video_is_as_long_as_the_speech_to_one_frame(tmp_path: Path) -> None:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=3.3)
    # what the pipeline yields for 3.3 s: N = (52800 // 640) // 2 = 41 frames -> 81 after RIFE
    frames = chunks(10)[:-1] + [torch.rand(9, 3, 128, 64)]
    result = write_mp4(frames, tmp_path / "out.mp4", fps=25, audio=speech)
    info = probe(result.path)
    assert abs(info["video_s"] - 3.3) <= 1 / 25
    assert abs(info["audio_s"] - 3.3) <= 1 / 25
    with av.open(str(result.path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 64, 128)
        assert audio.codec_context.name == "aac"


def test_the_sound_is_heard_when_it_was_said(tmp_path: Path) -> None:
    """AAC starts with 1024 priming samples; unless the MP4's edit list skips them, players
    start every sound 21 ms late (half a frame at 25 fps), which our first encoder did."""
    import wave
    samples = np.zeros(2 * SAMPLE_RATE, np.int16)
    click = round(0.5 * SAMPLE_RATE)
    samples[click:click + 80] = 20000  # 5 ms at 0.5 s
    speech = tmp_path / "click.wav"
    with wave.open(str(speech), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    result = write_mp4(chunks(7), tmp_path / "out.mp4", fps=25, audio=speech)
    heard, rate = load_audio(result.path), SAMPLE_RATE
    onset = int(np.argmax(np.abs(heard) > 0.2)) / rate
    assert abs(onset - 0.5) < 0.003, onset


def test_odd_sizes_and_empty_streams_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="H.264 needs even sides, got 63x128"):
        write_mp4(chunks(1, width=63), tmp_path / "odd.mp4", fps=25)
    with pytest.raises(InputError, match="produced no frames"):
        write_mp4([], tmp_path / "none.mp4", fps=25)


def _m4a_from(wav: Path, out: Path) -> Path:
    with av.open(str(wav)) as source, av.open(str(out), "w", format="mp4") as target:
        stream = target.add_stream("aac", rate=44_100)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=44_100)
        for frame in source.decode(audio=0):
            frame.pts = None
            for resampled in resampler.resample(frame):
                target.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            target.mux(stream.encode(resampled))
        target.mux(stream.encode(None))
    return out


def test_m4a_speech_decodes_like_the_wav_it_came_from(tmp_path: Path) -> None:
    wav = write_tone_wav(tmp_path / "speech.wav", seconds=2.0)
    m4a = _m4a_from(wav, tmp_path / "speech.m4a")
    reference, decoded = load_audio(wav), load_audio(m4a)
    assert len(reference) == 2 * SAMPLE_RATE
    assert abs(len(decoded) - len(reference)) <= 0.05 * SAMPLE_RATE  # AAC priming and padding
    # the same tone: strong correlation once the encoder delay is aligned
    window = reference[4000:28000]
    best = max(np.corrcoef(window, decoded[4000 + lag:28000 + lag])[0, 1] for lag in range(0, 2400, 8))
    assert best > 0.95
