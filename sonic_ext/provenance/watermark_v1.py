"""The 0.1.0 watermark, kept to read videos made before 0.2 (`watermark.detect_mark` falls back
to it); new outputs carry the keyed, crop-robust mark of `watermark.py`.

The mark is invisible-watermark's `dwtDctSvd` (quantised first singular value of 4x4 DCT blocks
of the U plane's Haar approximation) with a stronger U scale than its default 36, which the
research measured to survive H.264. Two choices of ours carry it through the required attacks:
- it is embedded in a fixed 256x256 "canonical" view of the frame (the residual is scaled back up
  to the frame's size), and detection scales every frame to that same view; so a 0.5x or any other
  resize of the whole frame leaves the block grid where the detector looks, and the cost per
  frame does not grow with the resolution;
- the payload (`payload.py`) is a 48-bit ID with a CRC-16 under a convolutional code, decoded
  with soft votes summed over blocks and sampled frames.

Importing this module imports `imwatermark`, which imports torch (about 1 s): import it lazily
from fast paths such as CLI start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pywt
from imwatermark import WatermarkEncoder
from imwatermark.dwtDctSvd import EmbedDwtDctSvd

from ..errors import InputError
from .payload import EMBEDDED_BITS, decode_payload, encode_payload
from .video_frames import iter_timed_frames
from .watermark import check_frame

METHOD = "dwtDctSvd"
CANONICAL_SIZE = 256
# Tuned on astronaut/coffee/chelsea clips (bench/watermark.py): 56 keeps the exact ID through
# CRF 30 + 0.5x (x264 medium) at PSNR ~37.3-37.9 dB; 48 (the research's pick) fails there.
U_SCALE = 56
SCALES = [0, U_SCALE, 0]  # invisible-watermark's per-plane scales: Y, U, (V is never used)
# 4x4 Haar-coefficient blocks (16x16 px of a 512 frame). 8x8 blocks survive harsher compression
# but only ~2 blocks carry each bit, and clipping from a -20 brightness change then erases bits.
BLOCK = 4
MIN_EMBED_SIDE = 256
MIN_DETECT_SIDE = 64
DEFAULT_SAMPLE_FRAMES = 32
METHOD_DESCRIPTION = (f"0.1.0 mark: invisible-watermark {METHOD} U-scale {U_SCALE}, canonical "
                      f"{CANONICAL_SIZE}px, 48-bit id + CRC-16, K=7 convolutional code")


@dataclass(frozen=True)
class WatermarkDetection:
    """The detector's answer for one video or set of frames."""

    present: bool  # the decoded ID passed its CRC: unmarked video does so with p = 2**-16
    watermark_id: str | None  # set only when present
    confidence: float  # 0 when absent; else 2 * mean(frame_scores) - 1 (1: every bit as embedded)
    # Per checked frame, the fraction of embedded bits matching the decoded codeword. The decoder
    # always fits the nearest codeword, so unmarked frames score 0.55-0.76, not 0.5.
    frame_scores: tuple[float, ...]
    frame_indices: tuple[int, ...]

    @property
    def frames_checked(self) -> int:
        return len(self.frame_scores)

    def to_dict(self) -> dict[str, object]:
        return {
            "present": self.present,
            "watermark_id": self.watermark_id,
            "confidence": round(self.confidence, 4),
            "frames_checked": self.frames_checked,
            "frame_indices": list(self.frame_indices),
            "frame_scores": [round(s, 4) for s in self.frame_scores],
            "method": METHOD_DESCRIPTION,
        }


class FrameWatermarker:
    """Streaming hook: pass each chunk of RGB frames through `embed` before it is encoded."""

    def __init__(self, watermark_id: str) -> None:
        self.watermark_id = watermark_id
        self._encoder = WatermarkEncoder()
        self._encoder.set_by_bits(encode_payload(watermark_id).tolist())

    def embed(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Marked copies of a chunk: (N, H, W, 3) uint8 RGB in, same shape out."""
        return np.stack([self.embed_frame(frame) for frame in frames])

    def embed_frame(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame, MIN_EMBED_SIDE, "frame to watermark")
        height, width = frame.shape[:2]
        bgr = np.ascontiguousarray(frame[:, :, ::-1])
        canonical = _to_canonical(bgr)
        marked = self._encoder.encode(canonical, METHOD, scales=SCALES, block=BLOCK)
        if (height, width) == (CANONICAL_SIZE, CANONICAL_SIZE):
            return np.ascontiguousarray(marked[:, :, ::-1])
        residual = marked.astype(np.float32) - canonical.astype(np.float32)
        residual = cv2.resize(residual, (width, height), interpolation=cv2.INTER_LINEAR)
        out = np.clip(bgr.astype(np.float32) + residual + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out[:, :, ::-1])


def frame_soft_bits(frame: np.ndarray) -> np.ndarray:
    """Per embedded bit, the share of blocks voting 1, as a value in [-1, 1] (+1: all vote 1)."""
    check_frame(frame, MIN_DETECT_SIDE, "frame to check")
    canonical = _to_canonical(np.ascontiguousarray(frame[:, :, ::-1]))
    u_plane = cv2.cvtColor(canonical, cv2.COLOR_BGR2YUV)[:, :, 1]
    approx, _ = pywt.dwt2(u_plane, "haar")
    reader = EmbedDwtDctSvd(watermarks=[], wmLen=EMBEDDED_BITS, scales=SCALES, block=BLOCK)
    votes = reader.decode_frame(approx, U_SCALE, [[] for _ in range(EMBEDDED_BITS)])
    return np.array([np.mean(v) for v in votes]) * 2.0 - 1.0


def detect_frames(frames: Iterable[np.ndarray],
                  indices: Sequence[int] | None = None) -> WatermarkDetection:
    """Detect over RGB frames already in memory (all of them are checked)."""
    soft = [frame_soft_bits(frame) for frame in frames]
    return _detection(soft, list(indices) if indices is not None else list(range(len(soft))))


def detect_video(path: Path, *, max_frames: int = DEFAULT_SAMPLE_FRAMES) -> WatermarkDetection:
    """Detect over up to `max_frames` frames spread evenly over the video (decoded with PyAV),
    reducing each to its soft bits as it is decoded: one full-size frame in memory at a time."""
    indices, soft = [], []
    for index, _, frame in iter_timed_frames(path, max_frames, short_side=2 * CANONICAL_SIZE):
        indices.append(index)
        soft.append(frame_soft_bits(frame))
    return _detection(soft, indices)


def _detection(soft_bits: list[np.ndarray], indices: list[int]) -> WatermarkDetection:
    if not soft_bits:
        raise InputError("frames", "no frames to check for a watermark")
    soft = np.array(soft_bits)
    decoded = decode_payload(soft.mean(axis=0))
    scores = tuple(decoded.agreement(row) for row in soft)
    present = decoded.crc_ok
    return WatermarkDetection(
        present=present,
        watermark_id=decoded.watermark_id if present else None,
        confidence=max(0.0, 2.0 * float(np.mean(scores)) - 1.0) if present else 0.0,
        frame_scores=scores,
        frame_indices=tuple(indices),
    )


def _to_canonical(bgr: np.ndarray) -> np.ndarray:
    height, width = bgr.shape[:2]
    if (height, width) == (CANONICAL_SIZE, CANONICAL_SIZE):
        return bgr
    shrinking = height * width > CANONICAL_SIZE * CANONICAL_SIZE
    return cv2.resize(bgr, (CANONICAL_SIZE, CANONICAL_SIZE),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
