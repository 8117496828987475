"""Decoding speech clips that libsndfile cannot read (M4A/AAC) with PyAV's bundled FFmpeg."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..errors import InputError


def decode_mono(path: Path) -> tuple[np.ndarray, int]:
    """All samples of the first audio stream, mixed to mono float32, at the native rate."""
    samples, rate, _ = decode_mono_timed(path)
    return samples, rate


def decode_mono_timed(path: Path) -> tuple[np.ndarray, int, float]:
    """`decode_mono` plus the time (s) of the first sample on the file's clock, which the
    video's frame times share (a lip-sync check lines them up)."""
    chunks: list[np.ndarray] = []
    rate, start = 0, None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError("audio", f"no audio stream in {path}")
            stream = container.streams.audio[0]
            if stream.codec_context is None:  # e.g. a WAV header with 0 bits per sample
                raise InputError("audio", f"no decoder reads the audio in {path}",
                                 hint="save it again as 16-bit PCM WAV, MP3, FLAC or M4A")
            rate = stream.rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(stream):
                if start is None and frame.time is not None:
                    start = float(frame.time)
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    except av.error.FFmpegError as exc:
        raise InputError("audio", f"cannot decode {path}: {exc}") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise InputError("audio", f"no audio samples in {path}")
    return samples.astype(np.float32, copy=False), rate, start or 0.0


MIN_SECONDS = 0.5  # shorter clips give a video of a few frames: not worth a generation
SILENCE_PEAK = 1e-4  # about -80 dBFS: nothing a listener (or whisper) would hear


def check_speech(path: Path, max_seconds: float, field: str = "audio") -> float:
    """Decode the clip once and refuse what cannot make a talking head; return its seconds."""
    samples, rate = decode_mono(path)
    seconds = len(samples) / rate
    if seconds < MIN_SECONDS:
        raise InputError(field, f"clip is {seconds:.2f} s long; at least {MIN_SECONDS} s needed")
    if seconds > max_seconds:
        raise InputError(field, f"clip is {seconds:.1f} s long; this installation accepts at "
                                f"most {max_seconds:g} s", hint="split the speech into parts")
    if not np.isfinite(samples).all():  # float WAVs can hold them; whisper would pass them on
        raise InputError(field, "clip holds NaN or infinite samples",
                         hint="export the audio again from the editor that made it")
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        raise InputError(field, "clip is silent", hint="check the recording: no speech was found")
    return seconds


FRAME_S = 0.04  # one frame at 25 fps: how far a segment's end may pass the clip's end


def speech_segment(start: float, duration: float, clip_seconds: float) -> tuple[float, float]:
    """(start, end) in seconds of the part of a clip to animate (`duration` 0: to its end),
    or InputError naming the clip's length."""
    if start >= clip_seconds:
        raise InputError("start", f"{start:g} s is at or past the end of the {clip_seconds:.2f} s "
                                  "speech clip")
    end = clip_seconds if duration == 0 else start + duration
    if end > clip_seconds + FRAME_S:
        raise InputError("duration", f"{start:g} s + {duration:g} s ends after the "
                                     f"{clip_seconds:.2f} s speech clip",
                         hint=f"at most {clip_seconds - start:.2f} s from {start:g} s")
    end = min(end, clip_seconds)
    if end - start < MIN_SECONDS:
        raise InputError("duration" if duration else "start",
                         f"the segment is {end - start:.2f} s of the {clip_seconds:.2f} s clip; "
                         f"at least {MIN_SECONDS} s needed")
    return start, end
