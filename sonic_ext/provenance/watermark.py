"""Invisible watermark v2: a keyed, tiled luma pattern that survives crops, rescales and flips.

Why this design (the v1 mark, `watermark_v1.py`, needed its block grid where it was embedded, so
any crop, flip or aspect change lost it):
- every frame gets the same periodic tile (JAWS-like): a 32x32 grid of +-1 cells, 96 px a side
  at a 512 px short side, smoothed, added to luma (equally to R, G and B, so hue is untouched),
  scaled by local texture so flat skin and sky get less. A crop is then only a cyclic shift of
  the tile, and a rescale or aspect change only changes its period;
- the detector whitens each frame, measures the period along each axis from the autocorrelation
  (a periodic pattern peaks at its period, content does not), resamples so the period is 64
  samples, folds every tile of every sampled frame into one 64x64 accumulator, and finds the
  tile's shift and orientation (the 8 flips/quarter turns) by FFT cross-correlation with the
  sync cells; the payload cells are then read at that alignment;
- 3/8 of the cells are a keyed sync pattern, the rest carry the 48-bit ID + CRC-16 under the
  K=7 convolutional code (`payload.py`), each coded bit on ~4.6 cells of every tile, with keyed
  chips and a keyed cell layout: without the installation's key (`watermark_key.py`) nobody can
  find, read or stamp the mark.

Presence, two ways, each with a stated false-positive rate:
- blind: the sync peak must reach Z_SYNC standard deviations of its correlation surface AND the
  CRC-16 must pass. Under no mark the surface is close to Gaussian and the search tries at most
  SEARCH_TRIALS shifts x orientations x periods, so a false sync peak has probability
  < SEARCH_TRIALS * Q(Z_SYNC) ~ 7e-4 (a union bound: neighbouring shifts and periods are far
  from independent); the payload (disjoint cells, keyed chips) then passes the
  CRC with probability 2**-16: 1.1e-8 per search, 3.7e-7 with all 1 + MAX_WINDOWS searched;
- informed (verify, with the registry's IDs): the payload at the best alignment of each search
  is correlated with every recorded ID's codeword; each such score is N(0, 1) under no mark, and
  `informed_threshold` sets the bar so that all (search, ID) pairs together stay under 1e-7.
  It reads copies too damaged to decode (all ~640 payload cells vote for one known codeword).
Measured: bench/watermark.py (unmarked clips and their attacked copies).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from ..errors import InputError
from .payload import CODED_BITS, decode_coded, encode_coded
from .video_frames import iter_timed_frames
from .watermark_key import WatermarkKey

VERSION = 2
REF_SHORT = 512  # the tile's size is defined at this short side and scales with the frame
CELLS = 32
CELL_PX = 3
TILE_PX = CELLS * CELL_PX  # 96 px period at a 512 px short side
DET_CELL = 2
DET_TILE = CELLS * DET_CELL  # detection samples per period
SYNC_CELLS = 384
TARGET_RMS = 2.35  # luma change, RMS over the frame: PSNR ~40.7 dB with rounding
MAX_GAIN = 2.0 * TARGET_RMS  # frames with little texture are not marked harder than this
MASK_FLOOR, MASK_CEIL, MASK_REF = 0.35, 1.6, 10.0  # texture mask: local std / MASK_REF, clipped
WORK_SHORT = 512
BILATERAL_RANGE = 8.0  # luma levels: a few times the mark's amplitude, well under edges  # detection works at this short side
LAG_MIN, LAG_MAX = 40, 240  # periods searched, in working pixels
PERIOD_CANDIDATES = 4  # autocorrelation peaks per axis, each also tried at half its lag
Z_SYNC = 6.2
SEARCH_TRIALS = DET_TILE * DET_TILE * 8 * (4 * PERIOD_CANDIDATES ** 2 + 4 * PERIOD_CANDIDATES)
MAX_WINDOWS = 32
Z_INFORMED = 7.0
INFORMED_FALSE_RATE = 1e-7
WINDOW_FRAMES = 16
FRAME_Z_MARKED = 4.0  # sampled frames whose sync peaks, summed over SEGMENT_SPAN, reach this
SEGMENT_SPAN = 5
MIN_EMBED_SIDE = 128
MIN_DETECT_SIDE = 64
DEFAULT_SAMPLE_FRAMES = 48
METHOD = f"keyed tiled luma spread spectrum v{VERSION}"


# ----------------------------------------------------------------------------------------------
# The keyed tile

@dataclass(frozen=True)
class _Layout:
    sync_cells: np.ndarray  # flat cell indices
    sync_signs: np.ndarray  # +-1
    payload_cells: np.ndarray
    payload_bit: np.ndarray  # coded-bit index per payload cell
    payload_chip: np.ndarray  # +-1
    sync_template: np.ndarray  # DET_TILE x DET_TILE, sync cells only, zero mean, unit RMS


@lru_cache(maxsize=8)
def _layout(key: WatermarkKey) -> _Layout:
    order = np.argsort(np.frombuffer(key.stream("cell order", 4 * CELLS * CELLS), dtype=">u4"),
                       kind="stable")
    signs = (np.frombuffer(key.stream("cell signs", CELLS * CELLS), dtype=np.uint8) & 1)
    signs = signs.astype(np.float32) * 2 - 1
    sync_cells, payload_cells = order[:SYNC_CELLS], order[SYNC_CELLS:]
    sync_grid = np.zeros(CELLS * CELLS, dtype=np.float32)
    sync_grid[sync_cells] = signs[sync_cells]
    return _Layout(
        sync_cells=sync_cells, sync_signs=signs[sync_cells], payload_cells=payload_cells,
        payload_bit=np.arange(len(payload_cells)) % CODED_BITS,
        payload_chip=signs[payload_cells],
        sync_template=_normalised(_smooth_tile(sync_grid.reshape(CELLS, CELLS), DET_CELL)))


def _cell_values(key: WatermarkKey, watermark_id: str) -> np.ndarray:
    layout = _layout(key)
    bits = encode_coded(watermark_id).astype(np.float32) * 2 - 1
    grid = np.zeros(CELLS * CELLS, dtype=np.float32)
    grid[layout.sync_cells] = layout.sync_signs
    grid[layout.payload_cells] = layout.payload_chip * bits[layout.payload_bit]
    return grid.reshape(CELLS, CELLS)


def _smooth_tile(cells: np.ndarray, per_cell: int) -> np.ndarray:
    """Cells blown up to `per_cell` samples each, then a periodic Gaussian (sigma half a cell):
    the pattern's energy stays where codecs and rescaling keep it."""
    blocks = np.kron(cells, np.ones((per_cell, per_cell), dtype=np.float32))
    freq = np.fft.fftfreq(blocks.shape[0])
    sigma = per_cell / 2
    gain = np.exp(-2 * (math.pi * sigma) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
    return np.fft.ifft2(np.fft.fft2(blocks) * gain).real.astype(np.float32)


def _normalised(tile: np.ndarray) -> np.ndarray:
    tile = tile - tile.mean()
    return (tile / np.sqrt(np.mean(tile ** 2))).astype(np.float32)


def _frame_pattern(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """The tile laid over a frame, its period TILE_PX * (short side / REF_SHORT) pixels."""
    scale = min(height, width) / REF_SHORT
    pad = 2
    padded = np.pad(tile, pad, mode="wrap")
    xs = np.mod((np.arange(width, dtype=np.float64) + 0.5) / scale - 0.5, TILE_PX) + pad
    ys = np.mod((np.arange(height, dtype=np.float64) + 0.5) / scale - 0.5, TILE_PX) + pad
    map_x = np.broadcast_to(xs[None, :], (height, width)).astype(np.float32)
    map_y = np.broadcast_to(ys[:, None], (height, width)).astype(np.float32)
    return cv2.remap(padded, map_x, map_y, cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------------------------
# Embedding

class FrameWatermarker:
    """Streaming hook: pass each chunk of RGB frames through `embed` before it is encoded."""

    def __init__(self, watermark_id: str, key: WatermarkKey) -> None:
        self.watermark_id = watermark_id
        self._tile = _normalised(_smooth_tile(_cell_values(key, watermark_id), CELL_PX))
        self._patterns: dict[tuple[int, int], np.ndarray] = {}

    def embed(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Marked copies of a chunk: (N, H, W, 3) uint8 RGB in, same shape out."""
        return np.stack([self.embed_frame(frame) for frame in frames])

    def embed_frame(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame, MIN_EMBED_SIDE, "frame to watermark")
        height, width = frame.shape[:2]
        pattern = self._patterns.get((height, width))
        if pattern is None:
            pattern = self._patterns.setdefault((height, width),
                                                _frame_pattern(self._tile, height, width))
        delta = pattern * _texture_mask(frame)
        rms = float(np.sqrt(np.mean(delta * delta)))
        delta *= min(TARGET_RMS / max(rms, 1e-6), MAX_GAIN)
        marked = frame.astype(np.float32)
        marked += delta[:, :, None]
        np.clip(marked, 0, 255, out=marked)
        return np.rint(marked).astype(np.uint8)


def _texture_mask(frame: np.ndarray) -> np.ndarray:
    """Local luma standard deviation over ~9 px (at 512), as a gain in [MASK_FLOOR, MASK_CEIL]."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    size = max(3, round(9 * min(frame.shape[:2]) / REF_SHORT) | 1)
    mean = cv2.boxFilter(gray, -1, (size, size))
    square = cv2.boxFilter(gray * gray, -1, (size, size))
    std = np.sqrt(np.maximum(square - mean * mean, 0))
    return np.clip(std / MASK_REF, MASK_FLOOR, MASK_CEIL)


# ----------------------------------------------------------------------------------------------
# Detection

@dataclass(frozen=True)
class Geometry:
    """How the copy's pixels relate to the marked original's, as far as the mark tells.

    A tile of the original maps onto the copy by `orientation` (a 2x2 integer matrix on (x, y):
    a flip and/or quarter turn), then a scale to `period_x` x `period_y` copy pixels per tile,
    with a tile corner at `origin` (copy pixels) - known only up to whole periods, since every
    tile is the same.
    """

    orientation: tuple[tuple[int, int], tuple[int, int]]
    period_x: float
    period_y: float
    origin: tuple[float, float]

    @property
    def mirrored(self) -> bool:
        (a, b), (c, d) = self.orientation
        return a * d - b * c < 0

    @property
    def quarter_turns(self) -> int:
        """Counter-clockwise quarter turns after the (horizontal) mirror, as seen on screen."""
        matrix = np.array(self.orientation)
        if self.mirrored:
            matrix = matrix @ np.array([[-1, 0], [0, 1]])
        # image y points down: a screen-counter-clockwise turn maps x=(1,0) to (0,-1)
        x_axis = tuple(matrix[:, 0])
        return {(1, 0): 0, (0, -1): 1, (-1, 0): 2, (0, 1): 3}[x_axis]

    def scale(self, original_size: tuple[int, int] | None) -> tuple[float, float]:
        """Copy pixels per original pixel along the copy's x and y; `original_size` (w, h)
        when known, else assuming a 512 px short side."""
        short = min(original_size) if original_size else REF_SHORT
        per_tile = TILE_PX * short / REF_SHORT
        return self.period_x / per_tile, self.period_y / per_tile

    def describe(self, original_size: tuple[int, int] | None = None) -> str:
        parts = []
        sx, sy = self.scale(original_size)
        if abs(sx - sy) > 0.02 * max(sx, sy):
            parts.append(f"scaled by {sx:.2f} x {sy:.2f} (aspect ratio changed)")
        elif abs(sx - 1) > 0.02:
            parts.append(f"scaled by {(sx + sy) / 2:.2f}")
        if self.mirrored:
            parts.append("mirrored")
        if self.quarter_turns:
            parts.append({1: "rotated 90 degrees counter-clockwise", 2: "rotated 180 degrees",
                          3: "rotated 90 degrees clockwise"}[self.quarter_turns])
        return ", ".join(parts) if parts else "same geometry as the original"

    def original_to_copy(self, original_size: tuple[int, int],
                         tiles: tuple[int, int] = (0, 0)) -> np.ndarray:
        """2x3 affine matrix from original pixel coordinates to copy pixel coordinates, for the
        tile-corner candidate `tiles` (whole periods added to `origin`)."""
        kappa = DET_TILE * REF_SHORT / (min(original_size) * TILE_PX)  # det samples per px
        to_copy = np.diag([self.period_x / DET_TILE, self.period_y / DET_TILE])
        linear = to_copy @ np.array(self.orientation, dtype=np.float64) * kappa
        shift = np.array(self.origin) + np.array(tiles) * [self.period_x, self.period_y]
        return np.hstack([linear, shift[:, None]])

    def to_dict(self, original_size: tuple[int, int] | None = None) -> dict[str, object]:
        sx, sy = self.scale(original_size)
        return {"description": self.describe(original_size), "scale_x": round(sx, 4),
                "scale_y": round(sy, 4), "mirrored": self.mirrored,
                "rotation_degrees": 90 * self.quarter_turns,
                "period_px": [round(self.period_x, 2), round(self.period_y, 2)]}


@dataclass(frozen=True)
class WatermarkDetection:
    """The detector's answer for one video or set of frames."""

    present: bool  # sync peak >= Z_SYNC and the CRC passed, or a known ID matched (informed)
    watermark_id: str | None  # set only when present
    confidence: float  # 0 when absent; else the share of payload bits read as embedded, 0-1
    frame_scores: tuple[float, ...]  # per checked frame: its own sync peak, in std units
    frame_indices: tuple[int, ...]
    sync_z: float = 0.0  # the best sync peak found (absent or not), in std units
    geometry: Geometry | None = None
    segments: tuple[tuple[float, float], ...] = ()  # seconds of the video carrying the mark
    method: str = METHOD
    informed: bool = False  # found by matching the IDs this registry knows, not by decoding

    @property
    def frames_checked(self) -> int:
        return len(self.frame_scores)

    def to_dict(self, original_size: tuple[int, int] | None = None) -> dict[str, object]:
        """`original_size` (w, h) of the marked video, when known, for the transform's scale."""
        return {
            "present": self.present,
            "watermark_id": self.watermark_id,
            "confidence": round(self.confidence, 4),
            "sync_z": round(self.sync_z, 2),
            "threshold_z": Z_SYNC,
            "frames_checked": self.frames_checked,
            "frame_indices": list(self.frame_indices),
            "frame_scores": [round(s, 3) for s in self.frame_scores],
            "frame_score_threshold": FRAME_Z_MARKED,
            "transform": self.geometry.to_dict(original_size) if self.geometry else None,
            "segments": [[round(a, 2), round(b, 2)] for a, b in self.segments],
            "method": self.method,
            "informed": self.informed,
        }


@dataclass
class _Frame:
    index: int
    time: float
    work: np.ndarray  # whitened luma at WORK_SHORT
    scale: float  # working px per copy px


@dataclass(frozen=True)
class _Found:
    z: float
    op: int
    shift: tuple[int, int]
    periods: tuple[float, float]
    folded: np.ndarray  # the accumulator, reoriented to the tile's own axes and aligned


def detect_frames(frames: Iterable[np.ndarray], key: WatermarkKey,
                  indices: Sequence[int] | None = None,
                  times: Sequence[float] | None = None, *,
                  known_ids: Sequence[str] = ()) -> WatermarkDetection:
    """Detect over frames in memory: HxWx3 RGB or HxW luma, uint8."""
    frames = list(frames)
    if not frames:
        raise InputError("frames", "no frames to check for a watermark")
    indices = list(indices) if indices is not None else list(range(len(frames)))
    times = list(times) if times is not None else [i / 25.0 for i in indices]
    prepared = [_prepare(_luma(frame), index, time)
                for frame, index, time in zip(frames, indices, times)]
    return _detect(prepared, key, known_ids)


def detect_video(path: Path, key: WatermarkKey, *, max_frames: int = DEFAULT_SAMPLE_FRAMES,
                 known_ids: Sequence[str] = ()) -> WatermarkDetection:
    """Detect over up to `max_frames` frames spread evenly over the video (decoded with PyAV).

    `known_ids`: the IDs this registry recorded. When blind decoding fails, the payload read at
    the best alignment is also tested against each of them (informed detection: all payload
    cells vote for one known codeword instead of decoding 140 bits), at a threshold that keeps
    the false-positive rate under 1e-6 however many IDs there are.
    """
    prepared = [_prepare(luma, index, time)  # each reduced to the working size as it comes
                for index, time, luma in iter_timed_frames(path, max_frames, luma=True)]
    return _detect(prepared, key, known_ids)


def detect_mark(path: Path, key: WatermarkKey | None, *, known_ids: Sequence[str] = (),
                max_frames: int = DEFAULT_SAMPLE_FRAMES) -> WatermarkDetection:
    """What an auditor asks: our mark under this installation's key, else the 0.1.0 mark
    (`watermark_v1`, unkeyed) that videos made before this version carry. Without a key only
    the 0.1.0 mark can be looked for."""
    found = detect_video(path, key, max_frames=max_frames, known_ids=known_ids) if key else None
    if found is not None and found.present:
        return found
    from . import (
        watermark_v1,  # imports torch through invisible-watermark: only when needed
    )

    legacy = watermark_v1.detect_video(path)
    if not legacy.present and found is not None:
        return found
    return WatermarkDetection(
        present=legacy.present, watermark_id=legacy.watermark_id,
        confidence=legacy.confidence, frame_scores=legacy.frame_scores,
        frame_indices=legacy.frame_indices, method=watermark_v1.METHOD_DESCRIPTION)


def _detect(frames: list[_Frame], key: WatermarkKey, known_ids: Sequence[str]) -> WatermarkDetection:
    layout = _layout(key)
    found, frame_z = _search(frames, layout)
    searches = [found]
    watermark_id, agreement = _decode(found, layout) if found else (None, 0.0)
    if watermark_id is None:
        # a marked excerpt inside a longer unmarked video: look window by window
        for start in range(0, max(len(frames) - WINDOW_FRAMES // 2, 1), WINDOW_FRAMES // 2):
            if len(searches) > MAX_WINDOWS:
                break
            candidate, _ = _search(frames[start:start + WINDOW_FRAMES], layout)
            searches.append(candidate)
            watermark_id, agreement = _decode(candidate, layout) if candidate else (None, 0.0)
            if watermark_id is not None:
                found, frame_z = candidate, _frame_scores(frames, candidate, layout)
                break
    informed = False
    if watermark_id is None and known_ids:
        match = _informed(searches, layout, known_ids)
        if match is not None:
            found, watermark_id, agreement = match
            frame_z, informed = _frame_scores(frames, found, layout), True
    present = watermark_id is not None
    return WatermarkDetection(
        present=present, watermark_id=watermark_id, informed=informed,
        confidence=agreement if present else 0.0,
        frame_scores=tuple(frame_z), frame_indices=tuple(f.index for f in frames),
        sync_z=found.z if found else 0.0,
        geometry=_geometry(found, frames[0]) if present else None,
        segments=_segments(frames, frame_z) if present else ())


def _luma(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise InputError("frame to check", f"expected uint8 luma or RGB, got {frame.dtype} "
                                           f"{frame.shape}")
    if min(frame.shape[:2]) < MIN_DETECT_SIDE:
        raise InputError("frame to check", f"{frame.shape[1]}x{frame.shape[0]} is too small; "
                                           f"both sides must be at least {MIN_DETECT_SIDE} px")
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _prepare(luma: np.ndarray, index: int, time: float) -> _Frame:
    """Luma at the working size, minus an edge-preserving smoothing of itself (what a
    low-amplitude pattern is to a bilateral filter: noise it removes, while it keeps edges and
    shading), over its local contrast: what is left is mostly the mark and fine texture."""
    height, width = luma.shape
    scale = WORK_SHORT / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # a frame over twice the working size is averaged down as it is (8-bit): a float copy
    # of a 4096 px frame alone would be 64 MB, and the rounding (under 0.3 levels rms after
    # averaging at least 2x2 pixels) is far below what a codec adds
    source = luma if scale < 0.5 else luma.astype(np.float32)
    work = cv2.resize(source, size, interpolation=cv2.INTER_AREA if scale < 1 else
                      cv2.INTER_LINEAR).astype(np.float32)
    residual = work - cv2.bilateralFilter(work, 9, BILATERAL_RANGE, 5)
    contrast = np.sqrt(cv2.GaussianBlur(residual * residual, (0, 0), 8.0) + 4.0)
    return _Frame(index, time, np.clip(residual / contrast, -4, 4), scale)


def _search(frames: list[_Frame], layout: _Layout) -> tuple[_Found | None, list[float]]:
    """The best (period, orientation, shift) for the summed frames; per-frame sync peaks.

    Folding is linear and every frame of a video shares its geometry, so candidates are tried
    on the sum of the frames: one resampling per candidate, however many frames."""
    if not frames:
        return None, []
    height = min(frame.work.shape[0] for frame in frames)
    width = min(frame.work.shape[1] for frame in frames)
    total = np.sum([frame.work[:height, :width] for frame in frames], axis=0)
    best: _Found | None = None
    for periods in _period_candidates(frames):
        candidate = _sync(_fold(total, periods), layout)
        if best is None or candidate.z > best.z:
            best = _Found(candidate.z, candidate.op, candidate.shift, periods, candidate.folded)
    return best, _frame_scores(frames, best, layout) if best else []


def _frame_scores(frames: list[_Frame], found: _Found, layout: _Layout) -> list[float]:
    return [_sync_at(_fold(frame.work, found.periods), found, layout) for frame in frames]


def _period_candidates(frames: list[_Frame]) -> list[tuple[float, float]]:
    """Tile periods (working px, x and y) where the frames' autocorrelation peaks."""
    width = min(frame.work.shape[1] for frame in frames)
    height = min(frame.work.shape[0] for frame in frames)
    along_x = sum(_autocorrelation(frame.work[:height, :width], axis=1) for frame in frames)
    along_y = sum(_autocorrelation(frame.work[:height, :width], axis=0) for frame in frames)
    # a content pattern may outrank the tile's own period, never its half: try both
    xs, ys = (list(dict.fromkeys(p for lag in _peaks(corr) for p in (lag, lag / 2)
                                 if p >= LAG_MIN)) for corr in (along_x, along_y))
    # most copies keep square pixels: each axis's candidates also stand for both axes
    square = [(p, p) for p in dict.fromkeys(xs + ys)]
    return list(dict.fromkeys(square + [(px, py) for px in xs for py in ys]))


def _autocorrelation(work: np.ndarray, axis: int) -> np.ndarray:
    """Linear autocorrelation along one axis, summed over the other, normalised at lag 0."""
    length = work.shape[axis]
    spectrum = np.fft.rfft(work, n=2 * length, axis=axis)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).sum(axis=1 - axis)
    corr = np.fft.irfft(power)[:length]
    overlap = length - np.arange(length)  # unbiased: each lag over the pixels it pairs
    return corr / overlap / max(corr[0] / length, 1e-9)


def _peaks(corr: np.ndarray) -> list[float]:
    """The periods whose harmonics (L, 2L, 3L, ...) the autocorrelation peaks at most, refined
    to a fraction of a pixel."""
    trend = cv2.GaussianBlur(corr.astype(np.float32).reshape(1, -1), (0, 0), 4.0).ravel()
    detail = corr - trend  # a peak is measured against its surroundings: content is a slow trend
    reach = int(len(corr) * 0.6)
    high = min(LAG_MAX, reach)
    lags = np.arange(LAG_MIN - 1, high + 1, dtype=np.float64)
    if len(lags) < 3:
        return [float(LAG_MIN)]
    positions = np.arange(len(detail))
    score = np.zeros_like(lags)
    count = np.zeros_like(lags)
    for harmonic in range(1, reach // LAG_MIN + 1):
        at = lags * harmonic
        inside = at < reach
        score += np.where(inside, np.interp(at, positions, detail), 0.0)
        count += inside
    score /= np.sqrt(np.maximum(count, 1))  # so neither L/2 nor 2L ties with the period L
    is_peak = (score[1:-1] > score[:-2]) & (score[1:-1] >= score[2:])
    picks = np.flatnonzero(is_peak) + 1
    picks = picks[np.argsort(score[picks])[::-1]][:PERIOD_CANDIDATES]
    refined = []
    for i in picks:
        left, mid, right = score[i - 1], score[i], score[i + 1]
        bend = left - 2 * mid + right
        offset = 0.5 * (left - right) / bend if bend < 0 else 0.0
        refined.append(float(lags[i] + np.clip(offset, -0.5, 0.5)))
    return refined or [float(LAG_MIN)]


def _fold(work: np.ndarray, periods: tuple[float, float]) -> np.ndarray:
    """Resample so a period is DET_TILE samples, then sum every tile into one."""
    px, py = periods
    height, width = work.shape
    out_w = int(width * DET_TILE / px) // DET_TILE * DET_TILE
    out_h = int(height * DET_TILE / py) // DET_TILE * DET_TILE
    if out_w < DET_TILE or out_h < DET_TILE:
        return np.zeros((DET_TILE, DET_TILE), dtype=np.float32)
    matrix = np.array([[DET_TILE / px, 0, 0], [0, DET_TILE / py, 0]], dtype=np.float64)
    grid = cv2.warpAffine(work, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    tiles = grid.reshape(out_h // DET_TILE, DET_TILE, out_w // DET_TILE, DET_TILE)
    return tiles.sum(axis=(0, 2)) / math.sqrt(tiles.shape[0] * tiles.shape[2])


_OPS = [(flip, turns) for flip in (False, True) for turns in range(4)]


def _orient(tile: np.ndarray, op: int) -> np.ndarray:
    flip, turns = _OPS[op]
    return np.rot90(tile[:, ::-1] if flip else tile, turns)


def _sync(folded: np.ndarray, layout: _Layout) -> _Found:
    """Cross-correlate every orientation of the accumulator with the sync cells."""
    template = np.conj(np.fft.rfft2(layout.sync_template))
    best = None
    for op in range(len(_OPS)):
        tile = _orient(folded, op)
        surface = np.fft.irfft2(np.fft.rfft2(tile) * template, s=tile.shape)
        spread = surface.std()
        if spread <= 0:
            continue
        peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
        z = float((surface[peak] - surface.mean()) / spread)
        if best is None or z > best.z:
            aligned = np.roll(tile, (-int(peak[0]), -int(peak[1])), axis=(0, 1))
            best = _Found(z, op, (int(peak[0]), int(peak[1])), (0.0, 0.0), aligned)
    return best or _Found(0.0, 0, (0, 0), (0.0, 0.0), np.zeros_like(folded))


def _sync_at(tile: np.ndarray, found: _Found | None, layout: _Layout) -> float:
    """One frame's sync peak at the alignment found for all of them, in std units."""
    if found is None:
        return 0.0
    oriented = _orient(tile, found.op)
    surface = np.fft.irfft2(np.fft.rfft2(oriented) * np.conj(np.fft.rfft2(layout.sync_template)),
                            s=oriented.shape)
    spread = surface.std()
    return float((surface[found.shift] - surface.mean()) / spread) if spread > 0 else 0.0


def _soft_bits(found: _Found, layout: _Layout) -> np.ndarray:
    """Per coded bit, the sum of its payload cells at the found alignment (+: a 1)."""
    cells = found.folded.reshape(CELLS, DET_CELL, CELLS, DET_CELL).mean(axis=(1, 3)).ravel()
    soft = cells[layout.payload_cells] * layout.payload_chip
    return np.bincount(layout.payload_bit, weights=soft, minlength=CODED_BITS)


def _decode(found: _Found, layout: _Layout) -> tuple[str | None, float]:
    """(ID, share of payload bits read as embedded) when the sync and the CRC hold."""
    if found.z < Z_SYNC:
        return None, 0.0
    bits = _soft_bits(found, layout)
    watermark_id, crc_ok = decode_coded(bits / (np.std(bits) or 1.0))
    if not crc_ok:
        return None, 0.0
    return watermark_id, _agreement(bits, watermark_id)


def _agreement(bits: np.ndarray, watermark_id: str) -> float:
    return float(np.mean(np.sign(bits) == _codeword(watermark_id)))


@lru_cache(maxsize=65536)
def _codeword(watermark_id: str) -> np.ndarray:
    return encode_coded(watermark_id).astype(np.float64) * 2 - 1


def informed_threshold(known: int, searches: int) -> float:
    """The normalised correlation a known ID must reach: every (search, ID) pair is one trial,
    each N(0, 1) under no mark, and all together stay under INFORMED_FALSE_RATE."""
    return max(Z_INFORMED, NormalDist().inv_cdf(1 - INFORMED_FALSE_RATE / max(known * searches, 1)))


def _informed(searches: Sequence[_Found | None], layout: _Layout,
              known_ids: Sequence[str]) -> tuple[_Found, str, float] | None:
    """The known ID whose codeword the payload correlates with beyond `informed_threshold`.

    Under no mark the soft bits are independent and sign-symmetric (keyed chips), so the
    self-normalised correlation with any fixed codeword is close to N(0, 1)."""
    threshold = informed_threshold(len(known_ids), len(searches))
    codewords = np.stack([_codeword(watermark_id) for watermark_id in known_ids])
    for found in searches:
        if found is None:
            continue
        bits = _soft_bits(found, layout)
        norm = float(np.sqrt(np.sum(bits * bits)))
        if norm == 0:
            continue
        scores = codewords @ bits / norm
        best = int(np.argmax(scores))
        if scores[best] >= threshold:
            return found, known_ids[best], _agreement(bits, known_ids[best])
    return None


def _geometry(found: _Found, frame: _Frame) -> Geometry:
    """The copy-from-original mapping implied by the sync peak (see Geometry)."""
    index = np.indices((DET_TILE, DET_TILE))  # [y, x] index grids of the accumulator
    # _orient(F)[v] = F[phi(v)]: phi is affine modulo DET_TILE; read its matrix off the grids
    source_y = _orient(index[0], found.op)
    source_x = _orient(index[1], found.op)

    def phi(x: int, y: int) -> np.ndarray:
        return np.array([source_x[y, x], source_y[y, x]], dtype=np.int64)

    origin_v = phi(0, 0)
    col_x = (phi(1, 0) - origin_v + 1) % DET_TILE - 1
    col_y = (phi(0, 1) - origin_v + 1) % DET_TILE - 1
    matrix = np.stack([col_x, col_y], axis=1)
    shift_v = np.array([found.shift[1], found.shift[0]])
    corner = (matrix @ shift_v + origin_v) % DET_TILE  # det samples in the copy's grid
    px, py = found.periods
    to_copy = np.array([px / DET_TILE, py / DET_TILE]) / frame.scale
    return Geometry(orientation=(tuple(int(v) for v in matrix[0]),  # type: ignore[arg-type]
                                 tuple(int(v) for v in matrix[1])),
                    period_x=px / frame.scale, period_y=py / frame.scale,
                    origin=tuple(float(v) for v in corner * to_copy))  # type: ignore[arg-type]


def _segments(frames: list[_Frame], scores: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Runs of sampled frames where the mark shows, as (start, end) seconds: each frame's sync
    peak is summed with its neighbours' (a lone frame's peak is weak after a hard re-encode)."""
    if not scores:
        return ()
    kernel = np.ones(SEGMENT_SPAN)
    summed = np.convolve(scores, kernel, mode="same")
    counts = np.convolve(np.ones(len(scores)), kernel, mode="same")
    marked = summed / np.sqrt(counts) >= FRAME_Z_MARKED
    runs: list[tuple[float, float]] = []
    for i, frame in enumerate(frames):
        if not marked[i]:
            continue
        if i > 0 and marked[i - 1]:
            runs[-1] = (runs[-1][0], frame.time)
        else:
            runs.append((frame.time, frame.time))
    return tuple(runs)


def check_frame(frame: np.ndarray, min_side: int, what: str) -> None:
    """An HxWx3 uint8 RGB frame with both sides at least `min_side`, else InputError."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(what, f"expected an HxWx3 uint8 RGB array, got {frame.dtype} "
                         f"{frame.shape}")
    if min(frame.shape[:2]) < min_side:
        raise InputError(what, f"{frame.shape[1]}x{frame.shape[0]} is too small; both sides "
                         f"must be at least {min_side} pixels")
