"""Evenly spaced RGB frames from a video file, decoded with PyAV (no ffmpeg binary needed)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..errors import InputError


def sample_frames(path: Path, max_frames: int) -> list[tuple[int, np.ndarray]]:
    """Up to `max_frames` (index, HxWx3 uint8 RGB) pairs spread over the whole first video stream."""
    return [(index, frame) for index, _, frame in sample_timed_frames(path, max_frames)]


def sample_timed_frames(path: Path, max_frames: int, *,
                        luma: bool = False) -> list[tuple[int, float, np.ndarray]]:
    """Up to `max_frames` (index, seconds, frame) spread over the whole first video stream; the
    frame is HxWx3 RGB, or with `luma` the decoder's own HxW luma plane (no colour conversion).

    Decoding is sequential (H.264 frames depend on earlier ones), but only the chosen frames are
    converted, which is most of the per-frame cost.
    """
    if max_frames < 1:
        raise InputError("max_frames", f"must be at least 1, got {max_frames}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(str(path), "has no video stream to check for a watermark")
            total = _count_frames(container)
            wanted = set(np.linspace(0, max(total - 1, 0), min(max_frames, max(total, 1)))
                         .round().astype(int).tolist())
            last = max(wanted)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            picked: list[tuple[int, float, np.ndarray]] = []
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    seconds = float(frame.time) if frame.time is not None else index / 25.0
                    picked.append((index, seconds, frame.to_ndarray(
                        format="gray" if luma else "rgb24")))
                if index >= last:
                    break
    except av.FFmpegError as exc:
        raise InputError(str(path), f"cannot be decoded as video: {exc}") from exc
    if not picked:
        raise InputError(str(path), "has no decodable video frames")
    return picked


def _count_frames(container: av.container.InputContainer) -> int:
    stream = container.streams.video[0]
    if stream.frames:
        return int(stream.frames)
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count
