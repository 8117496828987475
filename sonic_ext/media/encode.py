"""H.264 + AAC MP4 writing with PyAV (it bundles libx264 and an AAC encoder: no ffmpeg binary).

Frames arrive chunk by chunk and are encoded as they come, so a long video never sits in memory.
The speech clip is muxed in full and the last frame is held until the video is as long as the
audio, so the MP4's duration equals the audio's to within one frame (the official pipeline cuts
the audio to the video instead, losing up to 80 ms of speech).

Only the provenance step calls this, on a temporary path: an MP4 is published only once signed.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..errors import EncodingError, InputError, raised_as

AUDIO_RATE = 48_000


@dataclass(frozen=True)
class EncodedVideo:
    path: Path
    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    audio_duration_s: float | None


def to_uint8_frames(chunk: torch.Tensor | np.ndarray) -> np.ndarray:
    """(k, 3, H, W) floats in [0, 1] -> (k, H, W, 3) uint8, truncating like the official code."""
    if isinstance(chunk, np.ndarray) and chunk.dtype == np.uint8:
        return chunk
    array = chunk.detach().to("cpu", torch.float32).numpy() if isinstance(chunk, torch.Tensor) \
        else np.asarray(chunk, dtype=np.float32)
    return (array.clip(0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def audio_duration(path: Path) -> float:
    """Seconds of audio in `path`, from its decoded samples (container headers can lie)."""
    samples, rate = 0, None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError("audio", f"cannot decode {path}: {exc}") from None
    if not rate or not samples:
        raise InputError("audio", f"no audio samples in {path}")
    return samples / rate


def write_mp4(chunks: Iterable[torch.Tensor | np.ndarray], out: Path, *, fps: float,
              audio: Path | None = None, audio_seconds: float | None = None,
              segment: tuple[float, float] | None = None, crf: int = 18,
              sound_advance_ms: Callable[[], int] | None = None) -> EncodedVideo:
    """Encode frame chunks to `out`; with `audio`, mux it as AAC and match the durations
    (`audio_seconds`, when the caller already decoded the clip, saves decoding it again). With
    `segment` (start, end) in seconds, only that part of the clip is muxed.
    `sound_advance_ms`, asked once every frame is encoded (a lip-sync correction measured on
    them), moves the muxed sound that much earlier (negative: later, after silence).

    A failure of the encoder or the filesystem raises EncodingError; the chunks' own errors
    (the pipeline's, a cancel) pass unchanged."""
    with raised_as(lambda exc: EncodingError(
            f"writing {out.name} failed: {type(exc).__name__}: {exc}")):
        return _write_mp4(chunks, out, fps, audio, audio_seconds, segment, crf,
                          sound_advance_ms)


def _write_mp4(chunks: Iterable[torch.Tensor | np.ndarray], out: Path, fps: float,
               audio: Path | None, audio_seconds: float | None,
               segment: tuple[float, float] | None, crf: int,
               sound_advance_ms: Callable[[], int] | None) -> EncodedVideo:
    target_seconds = None
    if audio is not None:
        target_seconds = audio_seconds if audio_seconds is not None else audio_duration(audio)
    rate = Fraction(fps).limit_denominator(1000)
    frames_written, last, width, height = 0, None, 0, 0
    with av.open(str(out), mode="w", format="mp4") as container:
        video = sound = None
        for chunk in chunks:
            frames = to_uint8_frames(chunk)
            if video is None:  # every stream must exist before the first packet is written
                height, width = frames.shape[1:3]
                video = _video_stream(container, rate, width, height, crf)
                sound = _audio_stream(container) if audio is not None else None
            for frame in frames:
                _encode(container, video, frame, frames_written)
                frames_written += 1
            last = frames[-1]
        if video is None or last is None:
            raise InputError("frames", "the pipeline produced no frames")
        if target_seconds is not None:
            # Hold the last frame until the video is as long as the speech, to the frame.
            for _ in range(max(0, round(target_seconds * fps) - frames_written)):
                _encode(container, video, last, frames_written)
                frames_written += 1
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None and audio is not None:
            advance = sound_advance_ms() if sound_advance_ms is not None else 0
            _mux_audio(container, sound, audio, segment, advance)
    return EncodedVideo(out, frames_written, fps, width, height, frames_written / fps,
                        target_seconds)


def _video_stream(container: av.container.OutputContainer, rate: Fraction, width: int,
                  height: int, crf: int) -> av.VideoStream:
    if width % 2 or height % 2:
        raise InputError("frames", f"H.264 needs even sides, got {width}x{height}")
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = 1 / rate
    stream.options = {"crf": str(crf), "preset": "medium"}
    return stream


def _encode(container: av.container.OutputContainer, stream: av.VideoStream, rgb: np.ndarray,
            index: int) -> None:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame.pts = index
    for packet in stream.encode(frame):
        container.mux(packet)


def _audio_stream(container: av.container.OutputContainer) -> av.AudioStream:
    stream = container.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "mono"
    return stream


def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream,
               audio: Path, segment: tuple[float, float] | None, advance_ms: int = 0) -> None:
    """Decode the speech clip (any format PyAV reads), resample, encode it as AAC; with
    `segment` (start, end) in seconds only that part; `advance_ms` earlier (or later)."""
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)

    def resampled() -> Iterator[av.AudioFrame]:
        with av.open(str(audio)) as source:
            for frame in source.decode(source.streams.audio[0]):
                frame.pts = None
                yield from resampler.resample(frame)
        yield from resampler.resample(None)

    shift = round(advance_ms * AUDIO_RATE / 1000)
    first, end = ((round(segment[0] * AUDIO_RATE), round(segment[1] * AUDIO_RATE))
                  if segment is not None else (0, None))
    frames: Iterable[av.AudioFrame] = resampled()
    if segment is not None or shift:
        frames = _trimmed(frames, max(first + shift, 0),
                          end + shift if end is not None else sys.maxsize)
        if first + shift < 0:  # the sound starts later: silence first
            frames = itertools.chain([_silence(-(first + shift))], frames)
    position = 0
    for frame in frames:
        # Timestamps from 0 let the encoder date its priming samples before 0, so the muxer
        # writes the edit list that skips them; without, players start the sound 21 ms late.
        frame.pts, frame.time_base = position, Fraction(1, AUDIO_RATE)
        position += frame.samples
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def _silence(samples: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp",
                                       layout="mono")
    frame.sample_rate = AUDIO_RATE
    return frame


def _trimmed(frames: Iterable[av.AudioFrame], first: int, end: int
             ) -> Iterator[av.AudioFrame]:
    """The samples [first, end) of a stream of mono frames, as frames."""
    position = 0
    for frame in frames:
        samples = frame.to_ndarray()  # (1, n) planar mono
        count = samples.shape[1]
        low, high = max(first - position, 0), min(end - position, count)
        position += count
        if high > low:
            kept = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, low:high]),
                                              format="fltp", layout="mono")
            kept.sample_rate = AUDIO_RATE
            yield kept
        if position >= end:
            return


def probe(path: Path) -> dict[str, float]:
    """Frame count, fps and the durations of the video and audio streams of an MP4."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        fps = float(video.average_rate or video.base_rate)
    info = {"frames": frames, "fps": fps, "video_s": frames / fps}
    with av.open(str(path)) as container:
        if container.streams.audio:
            info["audio_s"] = audio_duration(path)
    return info
