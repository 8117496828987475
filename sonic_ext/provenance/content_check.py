"""Does a stripped copy show the video its mark names? The mark's geometry undone, then compared.

The watermark detector tells how a copy's pixels relate to the original's (`Geometry`: scale
per axis, mirror, quarter turns, and where a tile corner lies), up to whole tile periods, since
every tile is the same. This module maps sampled copy frames back into the original's thumbnail
grid for each whole-period candidate whose picture overlaps the copy, keeps the candidate whose
pictures agree best with the fingerprint (`fingerprint.similarity`), and so compares crops,
letterboxed, rescaled, mirrored and rotated copies in the original's own frame. The chosen
candidate also says which part of the original the copy shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .fingerprint import (
    Fingerprint,
    FingerprintMatch,
    View,
    similarity,
    thumbnail,
)
from .video_frames import iter_timed_frames
from .watermark import Geometry, WatermarkDetection

SAMPLE_FRAMES = 24
SCREEN_FRAMES = 4  # frames compared per candidate before the best is compared in full
MIN_OVERLAP = 0.3  # share of the original a candidate must show inside the copy
NEAR_BEST = 0.9  # candidates showing less than this share of the best one's are not tried


def compare_aligned(path: Path, mark: WatermarkDetection, fp: Fingerprint) -> FingerprintMatch:
    """The `verify.ContentCheck` for our mark: geometry-aware when the mark gave one. Each frame
    is reduced as it is decoded (to about 2 copy px per thumbnail px, or to the thumbnail
    itself), so memory does not grow with the copy's resolution."""
    candidates: list[np.ndarray] | None = None
    shrink = 1.0
    reduced, times = [], []
    for _, seconds, frame in iter_timed_frames(path, SAMPLE_FRAMES):
        if candidates is None:  # the first frame tells the copy's size
            candidates = _candidates(mark.geometry, fp, frame.shape[:2]) if mark.geometry \
                else []
            shrink = _shrink(candidates[0]) if candidates else 1.0
        reduced.append(_resized(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), shrink) if candidates else
                       thumbnail(frame, fp.thumb_size).astype(np.float32))
        times.append(seconds)
    if not candidates:  # the 0.1.0 mark, or no placement: the original's geometry only
        return similarity(fp, [View(thumb, float(t)) for thumb, t in zip(reduced, times)])
    matrices = [matrix[:2] * shrink for matrix in candidates]
    step = max(1, len(reduced) // SCREEN_FRAMES)
    screened = max(matrices, key=lambda matrix: similarity(
        fp, _views(reduced[::step], times[::step], matrix, fp)).score)
    return similarity(fp, _views(reduced, times, screened, fp))


def _shrink(matrix: np.ndarray) -> float:
    """How far copy frames can shrink before sampling them into the thumbnail grid without
    aliasing: to about 2 copy px per thumbnail px (the same for every whole-tile candidate)."""
    spacing = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    return min(1.0, 2.0 / max(spacing, 1e-6))


def _resized(luma: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return luma
    size = (max(1, round(luma.shape[1] * factor)), max(1, round(luma.shape[0] * factor)))
    return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)


def _candidates(geometry: Geometry, fp: Fingerprint,
                copy_shape: tuple[int, int]) -> list[np.ndarray]:
    """Thumbnail-to-copy affine matrices, one per whole-period shift that shows about as much
    of the original inside the copy as the best such shift."""
    height, width = fp.frame_size
    thumb_h, thumb_w = fp.thumb_size
    to_original = np.array([[width / thumb_w, 0, 0.5 * width / thumb_w - 0.5],
                            [0, height / thumb_h, 0.5 * height / thumb_h - 0.5],
                            [0, 0, 1]])
    corners = np.array([[0, 0, 1], [thumb_w, 0, 1], [0, thumb_h, 1], [thumb_w, thumb_h, 1]]).T
    grid = np.stack(np.meshgrid(np.linspace(0, thumb_w - 1, 12),
                                np.linspace(0, thumb_h - 1, 12)), axis=-1).reshape(-1, 2)
    sx, sy = geometry.scale((width, height))
    reach = int(max(width * abs(sx), height * abs(sy)) / min(geometry.period_x,
                                                             geometry.period_y)) + 2
    scored: list[tuple[float, np.ndarray]] = []
    for tiles_y in range(-reach, reach + 1):
        for tiles_x in range(-reach, reach + 1):
            affine = geometry.original_to_copy((width, height), (tiles_x, tiles_y))
            matrix = affine @ to_original
            placed = matrix @ corners
            if placed[0].max() < 0 or placed[1].max() < 0 or placed[0].min() > copy_shape[1] \
                    or placed[1].min() > copy_shape[0]:
                continue
            points = grid @ matrix[:, :2].T + matrix[:, 2]
            inside = ((points[:, 0] >= 0) & (points[:, 0] < copy_shape[1])
                      & (points[:, 1] >= 0) & (points[:, 1] < copy_shape[0])).mean()
            if inside >= MIN_OVERLAP:
                scored.append((float(inside), matrix))
    best = max((inside for inside, _ in scored), default=0.0)
    return [matrix for inside, matrix in scored if inside >= NEAR_BEST * best]


def _views(lumas: Sequence[np.ndarray], times: Sequence[float], matrix: np.ndarray,
           fp: Fingerprint) -> list[View]:
    """Copy frames (already shrunk) resampled into the thumbnail grid by `matrix` (2x3,
    thumbnail px -> shrunk copy px); NaN where the copy does not reach."""
    thumb_h, thumb_w = fp.thumb_size
    views = []
    for luma, seconds in zip(lumas, times):
        pixels = cv2.warpAffine(luma.astype(np.float32), matrix, (thumb_w, thumb_h),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        cover = cv2.warpAffine(np.ones(luma.shape, np.float32), matrix, (thumb_w, thumb_h),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        pixels[cover < 0.99] = np.nan
        views.append(View(pixels, float(seconds)))
    return views
