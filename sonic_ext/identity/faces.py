"""What every face-identity backend promises: faces with boxes and unit-length embeddings.

Backends differ in models and accuracy, never in this contract, so the registry and the gate
work with any of them. A portrait is read once into `Portrait`: the sha256 the decision records is
the hash of exactly the bytes that were analysed.

Detectors are trained on upright faces (dlib's HOG is frontal-only), so a face turned by 90 or
180 degrees, or mirrored, would go unseen. Every image is therefore scanned in all four
rotations, and each also mirrored unless the backend's detector is mirror-symmetric; a face is
reported once, in the image's own coordinates, with the orientation it was found in and its
embedding taken upright there.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..media.inputs import read_image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the (EXIF-oriented) image


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face a backend found; `embedding` is float32 with L2 norm 1."""

    box: Box
    score: float
    embedding: np.ndarray
    backend: str
    model_id: str
    orientation: str = "upright"

    @property
    def short_side(self) -> int:
        return min(self.box[2], self.box[3])

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@dataclass(frozen=True, eq=False)
class Portrait:
    """A decoded portrait: RGB pixels, upright as a viewer sees it (EXIF orientation applied)."""

    path: Path
    sha256: str
    rgb: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def load_portrait(path: Path, field: str = "image", *,
                  max_pixels: int | None = None) -> Portrait:
    """Check the file like every input (`max_pixels`: the policy's limit) and keep what that
    decoded: the very bytes that are hashed, decoded once."""
    path = Path(path)
    image, data = read_image(path, field, max_pixels=max_pixels)
    upright = _as_rgb(ImageOps.exif_transpose(image))
    return Portrait(path, hashlib.sha256(data).hexdigest(), np.asarray(upright))


def _as_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB. Pillow's own convert clips 16-bit greyscale (modes I;16 and I) at 255, which
    turns a portrait white, so those are scaled down to 8 bits first."""
    if img.mode.startswith("I;16") or img.mode == "I":
        grey = np.asarray(img, dtype=np.float64) / 257.0  # 65535 -> 255
        img = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))
    return img.convert("RGB")


def unit_vector(values: np.ndarray) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("face model returned a zero or non-finite embedding")
    return vector / norm


def clip_box(left: float, top: float, right: float, bottom: float, width: int,
             height: int) -> Box:
    """Round a detector's corner box to whole pixels inside the image."""
    x0, y0 = max(0, round(left)), max(0, round(top))
    x1, y1 = min(width, round(right)), min(height, round(bottom))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


# The most pixels a detector scans per orientation (about 2830x2830: a portrait of up to about
# 3 megapixels is scanned exactly as it needs). A larger one is scanned scaled down, so an
# 8000x8000 upload costs the next user's check seconds, not minutes (bench/gate.py); the
# portrait scan may then miss its faces under `min_face_px` times the shrink, while the scan of
# the model's input (at most the generation size) still finds every face that shows in the
# video at `min_visible_px` or more.
MAX_SCAN_PIXELS = 8_000_000


def scan_scale(width: int, height: int, wanted: float) -> float:
    """The scale a detector scans an image at: `wanted`, or less for a very large image."""
    return min(wanted, (MAX_SCAN_PIXELS / (width * height)) ** 0.5)


# (quarter turns counter-clockwise, mirrored first); the upright scan comes first, so a face
# found in several orientations keeps its upright detection when the scores tie.
ORIENTATIONS: tuple[tuple[int, bool], ...] = tuple(
    (turns, mirrored) for mirrored in (False, True) for turns in (0, 1, 2, 3))
# Detections of one face in two orientations overlap at least this much (intersection/union).
SAME_FACE_IOU = 0.4


def orientation_name(turns: int, mirrored: bool) -> str:
    parts = (["mirrored"] if mirrored else []) + ([f"turned {90 * turns}"] if turns else [])
    return " ".join(parts) or "upright"


def oriented(rgb: np.ndarray, turns: int, mirrored: bool) -> np.ndarray:
    """The image mirrored (left-right), then turned `turns` quarter turns counter-clockwise."""
    view = rgb[:, ::-1] if mirrored else rgb
    return np.ascontiguousarray(np.rot90(view, turns))


def box_from_oriented(box: tuple[float, float, float, float], turns: int, mirrored: bool,
                      width: int, height: int) -> tuple[float, float, float, float]:
    """A corner box (left, top, right, bottom) found in `oriented(rgb, ...)`, in `rgb`'s own
    coordinates (`width` x `height`)."""
    def back(x: float, y: float) -> tuple[float, float]:
        if turns == 1:
            x, y = width - y, x
        elif turns == 2:
            x, y = width - x, height - y
        elif turns == 3:
            x, y = y, height - x
        return (width - x, y) if mirrored else (x, y)

    xs, ys = zip(*(back(x, y) for x in (box[0], box[2]) for y in (box[1], box[3])))
    return min(xs), min(ys), max(xs), max(ys)


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


class FaceBackend(ABC):
    """A face detector + recognition model pair.

    Models are not safe to call from several threads at once, so scans are serialised per
    backend. Results are cached by the portrait's content hash: the same portrait is often
    checked for many clips, and detection is the slow part of the gate.
    """

    name: str
    model_id: str
    # True when the detector finds a mirrored face exactly when it finds the face itself (it
    # was trained with left-right flips); the mirrored scans would then only repeat the work.
    mirror_symmetric: bool = False

    def __init__(self, cache_size: int = 64) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int], tuple[DetectedFace, ...]] = OrderedDict()
        self._cache_size = cache_size

    def faces(self, image: Portrait | np.ndarray, min_face_px: int) -> tuple[DetectedFace, ...]:
        """Every face of at least `min_face_px` (short side), in any orientation, and possibly
        smaller ones; `image` is a portrait or RGB pixels (e.g. what the model conditions on)."""
        rgb = image.rgb if isinstance(image, Portrait) else np.ascontiguousarray(image)
        digest = (image.sha256 if isinstance(image, Portrait) else
                  hashlib.sha256(rgb.tobytes() + repr(rgb.shape).encode()).hexdigest())
        key = (digest, min_face_px)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = tuple(self._detect_oriented(rgb, min_face_px))
        with self._lock:
            if self._cache_size > 0:
                self._cache[key] = found
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return found

    def _detect_oriented(self, rgb: np.ndarray, min_face_px: int) -> list[DetectedFace]:
        """`_detect` in every orientation; one face found in several is kept once, by its best
        detection score. The models are held for one scan at a time, so concurrent checks take
        turns scan by scan instead of waiting for a whole large portrait."""
        height, width = rgb.shape[:2]
        found: list[DetectedFace] = []
        for turns, mirrored in ORIENTATIONS:
            if mirrored and self.mirror_symmetric:
                continue
            view = oriented(rgb, turns, mirrored)
            with self._lock:
                detected = self._detect(view, min_face_px)
            for face in detected:
                x, y, w, h = face.box
                box = clip_box(*box_from_oriented((x, y, x + w, y + h), turns, mirrored, width,
                                                  height), width, height)
                found.append(replace(face, box=box,
                                     orientation=orientation_name(turns, mirrored)))
        kept: list[DetectedFace] = []
        for face in sorted(found, key=lambda f: f.score, reverse=True):
            if all(overlap(face.box, k.box) < SAME_FACE_IOU for k in kept):
                kept.append(face)
        return kept

    @abstractmethod
    def _detect(self, rgb: np.ndarray, min_face_px: int) -> list[DetectedFace]:
        """Detect and embed upright faces, with the detector scaled so faces of `min_face_px`
        are in range."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}>"
