"""Evenly spaced frames from a video file, decoded with PyAV (no ffmpeg binary needed).

Frames are handed out one at a time as they are decoded (`iter_timed_frames`), so a reader that
reduces each frame at once (the watermark detector's working size, a thumbnail) holds one
full-size frame at a time, whatever the video's resolution. Frames over MAX_FRAME_PIXELS are
refused before they are converted; `check_frame_size` refuses those over the policy's limit from
the header alone, before anything is decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import InputError

# Refused whatever the policy says (policy/schema.json's ceiling for limits.max_video_frame_pixels).
MAX_FRAME_PIXELS = 8192 * 8192
# Larger frames are decoded without frame threading, which holds a frame per thread (about
# 100 MB more at 4096x4096 on two cores); smaller ones decode faster with it.
FRAME_THREADS_UP_TO = 1920 * 1088


def check_frame_size(path: Path, max_pixels: int) -> None:
    """Refuse a video whose frames are larger than `max_pixels`, from its header alone."""
    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                stream = container.streams.video[0]
                _check_size(stream.codec_context.width, stream.codec_context.height, max_pixels)
    except av.FFmpegError:
        pass  # unreadable: the readers say so in their own terms


def iter_timed_frames(path: Path, max_frames: int, *, luma: bool = False,
                      short_side: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Up to `max_frames` (index, seconds, frame) spread over the whole first video stream; the
    frame is HxWx3 RGB, or with `luma` the decoder's own HxW luma plane (no colour conversion).
    With `short_side`, a larger frame is scaled down (area-averaged, aspect kept) to that short
    side while it is converted, so it never exists at full size as an array.

    Decoding is sequential (H.264 frames depend on earlier ones), but only the chosen frames are
    converted, which is most of the per-frame cost.
    """
    if max_frames < 1:
        raise InputError("max_frames", f"must be at least 1, got {max_frames}")
    found = False
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(str(path), "has no video stream to check for a watermark")
            total = _count_frames(container)
            wanted = set(np.linspace(0, max(total - 1, 0), min(max_frames, max(total, 1)))
                         .round().astype(int).tolist())
            last = max(wanted)
            stream = container.streams.video[0]
            size = stream.codec_context.width * stream.codec_context.height
            stream.thread_type = "AUTO" if size <= FRAME_THREADS_UP_TO else "SLICE"
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    _check_size(frame.width, frame.height, MAX_FRAME_PIXELS)
                    seconds = float(frame.time) if frame.time is not None else index / 25.0
                    found = True
                    yield index, seconds, _array(frame, "gray" if luma else "rgb24", short_side)
                if index >= last:
                    break
    except av.FFmpegError as exc:
        raise InputError(str(path), f"cannot be decoded as video: {exc}") from exc
    if not found:
        raise InputError(str(path), "has no decodable video frames")


def iter_frames(path: Path, *, short_side: int | None = None, until_s: float | None = None
                ) -> Iterator[tuple[float, np.ndarray]]:
    """Every (seconds, RGB frame) of the first video stream in order, up to `until_s`; with
    `short_side`, larger frames are scaled down while converted (as in `iter_timed_frames`)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError("file", f"{path.name} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or 25)
            for index, frame in enumerate(container.decode(stream)):
                seconds = float(frame.time) if frame.time is not None else index / rate
                if until_s is not None and seconds >= until_s:
                    return
                _check_size(frame.width, frame.height, MAX_FRAME_PIXELS)
                yield seconds, _array(frame, "rgb24", short_side)
    except av.FFmpegError as exc:
        raise InputError("file", f"{path.name} cannot be decoded as video: {exc}") from exc


def _array(frame: av.VideoFrame, pixel_format: str, short_side: int | None) -> np.ndarray:
    shortest = min(frame.width, frame.height)
    if short_side is None or shortest <= short_side:
        return frame.to_ndarray(format=pixel_format)
    factor = short_side / shortest
    return frame.reformat(width=max(1, round(frame.width * factor)),
                          height=max(1, round(frame.height * factor)),
                          format=pixel_format, interpolation="AREA").to_ndarray()


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InputError("file", f"video frames are {width}x{height} "
                                    f"({width * height:,} pixels), over the "
                                    f"{max_pixels:,}-pixel limit",
                         hint="scale the video down before verifying it")


def _count_frames(container: av.container.InputContainer) -> int:
    stream = container.streams.video[0]
    if stream.frames:
        return int(stream.frames)
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count
