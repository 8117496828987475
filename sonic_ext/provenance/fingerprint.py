"""Perceptual fingerprint of an output: binds the watermark verdict to the pictures it marks.

The watermark ID is a 48-bit payload that anyone can copy onto other frames; on its own it proves
only that someone had one of our outputs. The registry therefore also keeps a compact picture of
every output (this fingerprint), and `verify` compares a stripped copy with the fingerprint of
the generation its mark names: the mark and the pictures must agree.

What is stored (`FingerprintRecorder.finish`, format version 1, little-endian):

    b"SNFP" | version u8 | frame h, w u16 | thumb h, w u8 | fps f32 | flags u8 |
    face box x, y, w, h f32 (thumbnail px; zeros without one) | count u32 |
    count x time u32 (ms) | count x thumb_h x thumb_w u8 (grayscale thumbnails)

Thumbnails are luma (BT.601), area-averaged to about THUMB_AREA pixels with the frame's aspect
(40x40 for a square frame, 33x49 at 2:3), of the first frame and then one frame per
SAMPLE_INTERVAL_S: 1,604 bytes per second of video plus a 36-byte header, within the 2 KB/s
budget; a 600 s clip (the policy's longest) is 0.96 MB. The recorder streams: it keeps one
thumbnail per sampled frame, never a frame.

How a copy is compared (`similarity`): each `View` (a copy frame already mapped into the
thumbnail grid, NaN where the copy does not show the original) goes against the CANDIDATES
stored thumbnails it correlates with best (copies may be excerpts, re-timed or inside a longer
video, so time is not trusted). Both are blurred (BLUR_SIGMA, for resampling and sub-pixel
misalignment); the copy's tones are mapped onto the original's by a robust fit on the small
cells whose texture already agrees (so a caption bar or a logo cannot bend the tone curve);
integer shifts up to SHIFT_PX thumbnail pixels are tried. Two SSIM-style scores in [0, 1]:
- whole: over a BLOCKS x BLOCKS grid, the mean without the worst TRIM of the cells, so a caption
  bar or a logo covering up to ~15 % of the frame is tolerated;
- face: over a FACE_GRID x FACE_GRID grid on the face region (the recorded face box, else the
  region of largest temporal variance, else the centre), without the worst FACE_TRIM cell: the
  animated face must match on its own, so another face pasted over it fails even though the
  rest of the frame is the original.
A view whose whole score is below RELATED shows another picture and is left out (a segment
inside a longer video), and so is a related view more than WHOLE_BAND below the best one (a
frame between two stored samples of a fast-changing video; a pasted face leaves the whole
score high, so it is never left out this way). The copy matches when some view is related and,
over the views kept, the median whole score reaches WHOLE_MIN, the median face score FACE_MIN
and the lowest tenth of face scores FACE_LOW_MIN.

Calibration (2026-12, 206 copies): 6 talking-head clips of 4 s at 512 px made from
tests/fixtures/faces (Sonic's crop; mouth, blinks, head moving against the background, camera
drift), published at CRF 18. Genuine copies, 18 per clip: H.264 CRF 23 and 35, VP9 400 kbit/s,
brightness +-20, contrast 0.8/1.2, gamma 0.8, saturation 0.5, noise sigma 3, a caption bar over
the bottom 15 %, a 15 % logo in a corner, shifts of 1 thumbnail px (13 px) and of 0.7 px
diagonally, half size, blur sigma 1.5, an excerpt, 15 fps, caption + gamma + brightness.
Forged: every other portrait's face pasted over the animated face (raw and tone-matched; 44),
every other portrait's clip and 4 skimage scenes (54).
- whole score: genuine 0.923 and up; other videos at most 0.192 (RELATED 0.55, WHOLE_MIN 0.7);
- face median: genuine 0.861 and up; face replaced at most 0.525, the worst being two faces from one
  photo session (obama3/biden) (FACE_MIN 0.7);
- face, lowest tenth: genuine 0.799 and up; face replaced at most 0.476 (FACE_LOW_MIN 0.64).
No genuine copy was rejected and no forgery accepted. The clips are synthetic motion, not
Sonic output: real videos with larger motion between the 1 s samples score lower on the face;
re-measure on real outputs before tightening. tests/provenance/test_fingerprint.py keeps these
cases as tests.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

MAGIC = b"SNFP"
VERSION = 1
THUMB_AREA = 1600
SAMPLE_INTERVAL_S = 1.0
_HEADER = struct.Struct("<4sBHHBBfB4fI")

BLUR_SIGMA = 0.6
SHIFT_PX = 1
BLOCKS = 5
TRIM = 0.3
FACE_GRID = 4
FACE_TRIM = 1  # face cells dropped, worst first (a corner logo may cover one)
TONE_ITERATIONS = 4
TONE_GRID = 8  # cells checked for consistency before the tone fit
TONE_MIN_STD = 2.0
TONE_MIN_CORR = 0.6
TONE_SLOPE_RATIO = 3.0
STRUCTURE_C = 4.0 ** 2  # a block with less contrast than this reads as flat (codec noise)
MEAN_TOLERANCE = 12.0  # grey levels a flat block's mean may differ after the tone fit
CANDIDATES = 3  # stored thumbnails compared in detail per view
RELATED = 0.55
WHOLE_MIN = 0.7
WHOLE_BAND = 0.15  # views counted: within this of the best related view's whole score
FACE_MIN = 0.7  # median face score of the related views
FACE_LOW_MIN = 0.64  # ... and their FACE_QUANTILE (the face must match nearly throughout)
FACE_QUANTILE = 0.1

Box = tuple[float, float, float, float]  # x, y, width, height


def thumb_shape(frame_h: int, frame_w: int) -> tuple[int, int]:
    """(h, w) of the thumbnails of a frame of this size: about THUMB_AREA px, same aspect."""
    scale = math.sqrt(THUMB_AREA / (frame_h * frame_w))
    return (max(8, min(255, round(frame_h * scale))), max(8, min(255, round(frame_w * scale))))


def thumbnail(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Luma of an (H, W, 3) uint8 RGB frame, area-averaged to `shape` (h, w), uint8."""
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A decoded fingerprint blob."""

    frame_size: tuple[int, int]  # (h, w) of the original frames
    thumb_size: tuple[int, int]  # (h, w) of each thumbnail
    fps: float
    times: np.ndarray  # (N,) float seconds of each thumbnail's frame
    thumbs: np.ndarray  # (N, h, w) uint8
    face_box: Box | None  # in thumbnail pixels

    @classmethod
    def from_bytes(cls, blob: bytes) -> Fingerprint:
        if len(blob) < _HEADER.size:
            raise ValueError("fingerprint blob is truncated")
        magic, version, fh, fw, th, tw, fps, flags, bx, by, bw, bh, count = \
            _HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise ValueError("not a fingerprint blob")
        if version != VERSION:
            raise ValueError(f"fingerprint format {version} is not supported (this reads "
                             f"{VERSION})")
        expected = _HEADER.size + count * (4 + th * tw)
        if len(blob) != expected or count == 0:
            raise ValueError(f"fingerprint blob has {len(blob)} bytes, its header says "
                             f"{expected}")
        times = np.frombuffer(blob, "<u4", count, _HEADER.size).astype(np.float64) / 1000.0
        thumbs = np.frombuffer(blob, np.uint8, count * th * tw, _HEADER.size + 4 * count)
        return cls((fh, fw), (th, tw), fps, times, thumbs.reshape(count, th, tw),
                   (bx, by, bw, bh) if flags & 1 else None)


class FingerprintRecorder:
    """Streaming frame hook: `add` each chunk on its way to the encoder, then `finish`."""

    def __init__(self, fps: float, face_box: Sequence[float] | None = None, *,
                 box_space: tuple[int, int] | None = None) -> None:
        """`face_box` (x, y, w, h): the animated face, in frame pixels, or in the pixels of an
        image of size `box_space` (w, h) that the frames are a resize of (Sonic's crop)."""
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self._box = tuple(float(v) for v in face_box) if face_box is not None else None
        self._box_space = box_space
        self._frame_size: tuple[int, int] | None = None
        self._thumb_size = (0, 0)
        self._index = 0
        self._next_time = 0.0
        self._times: list[int] = []
        self._thumbs: list[bytes] = []

    def add(self, frames: np.ndarray) -> np.ndarray:
        """Record a chunk of (N, H, W, 3) uint8 RGB frames; return it unchanged."""
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected (N, H, W, 3) uint8 frames, got {frames.dtype} "
                             f"{frames.shape}")
        size = (int(frames.shape[1]), int(frames.shape[2]))
        if self._frame_size is None:
            self._frame_size, self._thumb_size = size, thumb_shape(*size)
        elif size != self._frame_size:
            raise ValueError(f"frame size changed from {self._frame_size} to {size}")
        for frame in frames:
            seconds = self._index / self.fps
            if seconds + 0.5 / self.fps >= self._next_time:
                self._times.append(round(seconds * 1000))
                self._thumbs.append(thumbnail(frame, self._thumb_size).tobytes())
                self._next_time += SAMPLE_INTERVAL_S
            self._index += 1
        return frames

    def finish(self) -> bytes:
        """The fingerprint blob (see the module docstring)."""
        if self._frame_size is None:
            raise ValueError("no frames were recorded")
        (fh, fw), (th, tw) = self._frame_size, self._thumb_size
        box = self._thumb_box()
        header = _HEADER.pack(MAGIC, VERSION, fh, fw, th, tw, self.fps, int(box is not None),
                              *(box or (0.0, 0.0, 0.0, 0.0)), len(self._times))
        return header + struct.pack(f"<{len(self._times)}I", *self._times) + \
            b"".join(self._thumbs)

    def _thumb_box(self) -> Box | None:
        if self._box is None or self._frame_size is None:
            return None
        (fh, fw), (th, tw) = self._frame_size, self._thumb_size
        space_w, space_h = self._box_space or (fw, fh)
        x, y, w, h = self._box
        sx, sy = tw / space_w, th / space_h
        x0, y0 = max(0.0, x * sx), max(0.0, y * sy)
        x1, y1 = min(float(tw), (x + w) * sx), min(float(th), (y + h) * sy)
        return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


@dataclass(frozen=True, eq=False)
class View:
    """One frame of a copy, already mapped into the original's thumbnail grid.

    `pixels`: float32 (thumb_h, thumb_w) luma in 0-255 (any monotone tone difference, e.g. a
    decoder's limited-range luma plane, is undone by the comparison), NaN where the copy does
    not show the original (cropped away); `time_s`: the copy's own time of that frame (copies may be
    excerpts or re-timed, so views are matched by content, not by time).
    """

    pixels: np.ndarray
    time_s: float


def views_from_frames(frames: Sequence[np.ndarray], times: Sequence[float],
                      fp: Fingerprint) -> list[View]:
    """Views of copy frames that have the original's geometry, possibly uniformly rescaled."""
    return [View(thumbnail(frame, fp.thumb_size).astype(np.float32), float(t))
            for frame, t in zip(frames, times, strict=True)]


@dataclass(frozen=True)
class ViewScore:
    """How one view compares with its best stored thumbnail."""

    time_s: float
    matched_time_s: float  # time of the stored thumbnail it matched best
    shift: tuple[int, int]  # (dx, dy) thumbnail px that aligned it best
    whole: float
    face: float
    blocks: tuple[tuple[float, ...], ...]  # BLOCKS x BLOCKS structure scores, top row first
    related: bool  # the whole frame shows the original (else another picture: ignored)

    def to_dict(self) -> dict[str, object]:
        return {"time_s": round(self.time_s, 3), "matched_time_s": round(self.matched_time_s, 3),
                "shift": list(self.shift), "whole": round(self.whole, 3),
                "face": round(self.face, 3), "related": self.related,
                "blocks": [[round(b, 2) for b in row] for row in self.blocks]}


FaceSource = Literal["recorded", "motion", "centre"]


@dataclass(frozen=True)
class FingerprintMatch:
    """The verdict of `similarity`: do these views show the fingerprinted video?"""

    matched: bool
    score: float  # min(whole, face), in [0, 1]
    whole: float  # median whole-frame score of the related views (of all, when none is)
    face: float  # median face-region score of the same views
    face_low: float  # the FACE_QUANTILE of those views' face scores
    face_box: Box
    face_source: FaceSource
    views: tuple[ViewScore, ...]
    counted_views: int  # the related views within WHOLE_BAND of the best: what was decided on

    @property
    def related_views(self) -> int:
        return sum(1 for v in self.views if v.related)

    def explain(self) -> str:
        """One line for the verify report."""
        if not self.related_views:
            return (f"no frame shows the recorded video (whole-frame score {self.whole:.2f}, "
                    f"needs {RELATED:.2f})")
        counted = (f"{self.related_views} of {len(self.views)} frames show the recorded video, "
                   f"{self.counted_views} of them about as closely as the best")
        scores = (f"whole frame {self.whole:.2f} (needs {WHOLE_MIN:.2f}), face region "
                  f"{self.face:.2f} (needs {FACE_MIN:.2f}), in its worst tenth {self.face_low:.2f}"
                  f" (needs {FACE_LOW_MIN:.2f}; {self.face_source} region)")
        if self.matched:
            return f"the pictures match the recorded video: {counted}; {scores}"
        if self.whole >= WHOLE_MIN:
            return f"the face region differs from the recorded video: {counted}; {scores}"
        return f"the pictures differ from the recorded video: {counted}; {scores}"

    def to_dict(self) -> dict[str, object]:
        return {"matched": self.matched, "score": round(self.score, 3),
                "whole": round(self.whole, 3), "face": round(self.face, 3),
                "face_low": round(self.face_low, 3),
                "face_box": [round(v, 2) for v in self.face_box],
                "face_source": self.face_source, "related_views": self.related_views,
                "counted_views": self.counted_views,
                "views": [v.to_dict() for v in self.views],
                "thresholds": {"related": RELATED, "whole": WHOLE_MIN, "band": WHOLE_BAND,
                               "face": FACE_MIN, "face_low": FACE_LOW_MIN}}


def similarity(fp: Fingerprint, views: Sequence[View]) -> FingerprintMatch:
    """Compare a copy's views with a fingerprint (see the module docstring for the rule)."""
    if not views:
        raise ValueError("no views to compare")
    face_box, source = face_region(fp)
    stored = np.stack([_blur(t.astype(np.float32)) for t in fp.thumbs])
    coarse = _coarse_candidates(stored, views)
    scores = tuple(_score_view(fp, stored, view, picks, face_box)
                   for view, picks in zip(views, coarse, strict=True))
    related = [s for s in scores if s.related]
    best = max((s.whole for s in related), default=0.0)
    counted = [s for s in related if s.whole >= best - WHOLE_BAND] or list(scores)
    whole = float(np.median([s.whole for s in counted]))
    face = float(np.median([s.face for s in counted]))
    face_low = float(np.quantile([s.face for s in counted], FACE_QUANTILE))
    matched = (counted[0].related and whole >= WHOLE_MIN and face >= FACE_MIN
               and face_low >= FACE_LOW_MIN)
    return FingerprintMatch(matched, min(whole, face), whole, face, face_low, face_box, source,
                            scores, len(counted) if related else 0)


def face_region(fp: Fingerprint) -> tuple[Box, FaceSource]:
    """The region that must match on its own: the recorded face box, else where the stored
    thumbnails change most over time (a talking head moves its face), else the centre."""
    th, tw = fp.thumb_size
    if fp.face_box is not None and fp.face_box[2] >= 3 and fp.face_box[3] >= 3:
        return fp.face_box, "recorded"
    side_h, side_w = max(3, round(th * 0.5)), max(3, round(tw * 0.5))
    if len(fp.thumbs) >= 3:
        spread = fp.thumbs.astype(np.float32).std(axis=0)
        window = cv2.boxFilter(spread, -1, (side_w, side_h), normalize=True,
                               borderType=cv2.BORDER_CONSTANT)
        if float(window.max()) >= 2.0:
            cy, cx = np.unravel_index(int(np.argmax(window)), window.shape)
            x0 = min(max(0, cx - side_w // 2), tw - side_w)
            y0 = min(max(0, cy - side_h // 2), th - side_h)
            return (float(x0), float(y0), float(side_w), float(side_h)), "motion"
    return ((tw - side_w) / 2, (th - side_h) / 2, float(side_w), float(side_h)), "centre"


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA, borderType=cv2.BORDER_REFLECT)


def _blur_masked(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blur a view whose uncovered pixels are NaN (normalised convolution); the mask of
    pixels whose neighbourhood is mostly covered."""
    valid = np.isfinite(pixels)
    filled = np.where(valid, pixels, 0.0).astype(np.float32)
    weight = _blur(valid.astype(np.float32))
    blurred = _blur(filled) / np.maximum(weight, 1e-6)
    return blurred, valid & (weight > 0.5)


def _coarse_candidates(stored: np.ndarray, views: Sequence[View]) -> list[np.ndarray]:
    """Per view, the indices of the CANDIDATES stored thumbnails it correlates with best."""
    flat = stored.reshape(len(stored), -1)
    picks = []
    for view in views:
        pixels, valid = _blur_masked(view.pixels)
        mask = valid.ravel()
        a = flat[:, mask] - flat[:, mask].mean(axis=1, keepdims=True)
        b = pixels.ravel()[mask] - pixels.ravel()[mask].mean()
        corr = (a @ b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b) + 1e-6)
        picks.append(np.argsort(-corr)[:CANDIDATES])
    return picks


def _score_view(fp: Fingerprint, stored: np.ndarray, view: View, picks: np.ndarray,
                face_box: Box) -> ViewScore:
    """The view against each candidate thumbnail: the copy's tones are mapped onto the
    candidate's, then whole frame and face region each take the shift that aligns them best
    (a talking head moves its face against the background)."""
    pixels, valid = _blur_masked(view.pixels)
    th, tw = pixels.shape
    whole_box = (0.0, 0.0, float(tw), float(th))
    shifts = [(dx, dy) for dy in range(-SHIFT_PX, SHIFT_PX + 1)
              for dx in range(-SHIFT_PX, SHIFT_PX + 1)]
    best: ViewScore | None = None
    for index in picks:
        thumb = stored[index]
        toned = _tone_map(pixels, thumb, _consistent(thumb, pixels, valid))
        whole, blocks, shift, face = -1.0, np.zeros((0, 0)), (0, 0), -1.0
        for dx, dy in shifts:
            moved, mask = _shift(toned, valid, dx, dy)
            cells = _cell_scores(thumb, moved, mask, whole_box, BLOCKS)
            score = _trimmed_mean(cells, int(np.isfinite(cells).sum() * TRIM))
            if score > whole:
                whole, blocks, shift = score, cells, (dx, dy)
            face = max(face, _trimmed_mean(_cell_scores(thumb, moved, mask, face_box,
                                                        FACE_GRID), FACE_TRIM))
        if best is None or min(whole, face) > min(best.whole, best.face):
            best = ViewScore(view.time_s, float(fp.times[index]), shift, whole, face,
                             tuple(tuple(float(v) for v in row) for row in blocks),
                             whole >= RELATED)
    assert best is not None
    return best


def _consistent(thumb: np.ndarray, view: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The pixels to fit the tone map on: those of small cells whose texture correlates with
    the thumbnail's whatever the tones (a caption bar or a logo does not), or every covered
    pixel when too few do."""
    h, w = thumb.shape
    ys = np.linspace(0, h, TONE_GRID + 1).round().astype(int)
    xs = np.linspace(0, w, TONE_GRID + 1).round().astype(int)
    mask = np.zeros_like(valid)
    for r in range(TONE_GRID):
        for c in range(TONE_GRID):
            cell = (slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1]))
            covered = valid[cell]
            if covered.sum() < 4:
                continue
            a, b = thumb[cell][covered], view[cell][covered]
            if a.std() >= TONE_MIN_STD and b.std() >= TONE_MIN_STD and \
                    np.corrcoef(a, b)[0, 1] >= TONE_MIN_CORR:
                mask[cell] = covered
    return mask if mask.sum() >= 0.25 * valid.sum() else valid


def _shift(pixels: np.ndarray, valid: np.ndarray, dx: int, dy: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """The view moved by (dx, dy) thumbnail pixels; what moves in from outside is invalid."""
    if dx == 0 and dy == 0:
        return pixels, valid
    out = np.zeros_like(pixels)
    mask = np.zeros_like(valid)
    h, w = pixels.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = pixels[ys, xs]
    mask[yd, xd] = valid[ys, xs]
    return out, mask


def _tone_map(view: np.ndarray, thumb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The view's tones mapped onto the thumbnail's by a robust fit over `mask`: brightness,
    contrast and gamma changes are what it undoes; captions and logos are outliers it ignores.

    Quadratic when the fit is a plausible tone curve (rising, its slope varying at most
    TONE_SLOPE_RATIO-fold over the view's tones), else affine: a free quadratic can bend its
    bright end onto a white logo and so pass the logo off as the original's pixels."""
    v, t = view[mask].astype(np.float64) / 255.0, thumb[mask].astype(np.float64) / 255.0
    if len(v) < 16:
        return view
    coeffs = _robust_fit(np.stack([np.ones_like(v), v, v * v], axis=1), t)
    low_slope, high_slope = (coeffs[1] + 2 * coeffs[2] * np.percentile(v, q) for q in (1, 99))
    if not (low_slope > 0 and high_slope > 0
            and max(low_slope, high_slope) <= TONE_SLOPE_RATIO * min(low_slope, high_slope)):
        coeffs = np.append(_robust_fit(np.stack([np.ones_like(v), v], axis=1), t), 0.0)
    x = view.astype(np.float64) / 255.0
    return ((coeffs[0] + coeffs[1] * x + coeffs[2] * x * x) * 255.0).astype(np.float32)


def _robust_fit(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares re-weighted with Tukey's biweight (scale from the median residual)."""
    weights = np.ones(len(target))
    coeffs = np.zeros(design.shape[1])
    for _ in range(TONE_ITERATIONS):
        weighted = design * weights[:, None]
        coeffs = np.linalg.solve(weighted.T @ design + 1e-6 * np.eye(design.shape[1]),
                                 weighted.T @ target)
        residual = target - design @ coeffs
        scale = 1.4826 * np.median(np.abs(residual)) + 2.0 / 255.0
        weights = np.clip(1.0 - (residual / (4.685 * scale)) ** 2, 0.0, None) ** 2
    return coeffs


def _cell_scores(thumb: np.ndarray, view: np.ndarray, mask: np.ndarray, box: Box, grid: int
                 ) -> np.ndarray:
    """SSIM-style score per cell of a grid x grid split of `box`: structure (covariance
    against variances, with STRUCTURE_C for flat cells) times agreement of the means; NaN for
    a cell the view mostly does not cover."""
    h, w = thumb.shape
    x, y, bw, bh = box
    xs = np.unique(np.linspace(x, x + bw, grid + 1).round().astype(int).clip(0, w))
    ys = np.unique(np.linspace(y, y + bh, grid + 1).round().astype(int).clip(0, h))
    if len(xs) < 2 or len(ys) < 2:
        return np.full((0, 0), np.nan)
    window = (slice(ys[0], ys[-1]), slice(xs[0], xs[-1]))
    m = mask[window].astype(np.float64)
    a, b = thumb[window].astype(np.float64) * m, view[window].astype(np.float64) * m

    def cells(values: np.ndarray) -> np.ndarray:
        rows = np.add.reduceat(values, ys[:-1] - ys[0], axis=0)
        return np.add.reduceat(rows, xs[:-1] - xs[0], axis=1)

    count, area = cells(m), cells(np.ones_like(m))
    n = np.maximum(count, 1.0)
    mean_a, mean_b = cells(a) / n, cells(b) / n
    var_a = cells(a * a) / n - mean_a ** 2
    var_b = cells(b * b) / n - mean_b ** 2
    cov = cells(a * b) / n - mean_a * mean_b
    structure = (2 * cov + STRUCTURE_C) / (np.maximum(var_a, 0) + np.maximum(var_b, 0)
                                           + STRUCTURE_C)
    means = np.exp(-((mean_a - mean_b) / MEAN_TOLERANCE) ** 2)
    scores = np.clip(structure, 0.0, None) * means
    return np.where((count >= 0.5 * area) & (count >= 4), scores, np.nan)


def _trimmed_mean(cells: np.ndarray, drop: int) -> float:
    """Mean of the cell scores without the `drop` worst (0 when no cell is covered)."""
    kept = np.sort(cells[np.isfinite(cells)])[::-1]
    kept = kept[:max(1, len(kept) - drop)]
    return float(kept.mean()) if len(kept) else 0.0
