"""What every face-identity backend promises: faces with boxes and unit-length embeddings.

Backends differ in models and accuracy, never in this contract, so the registry and the gate
work with any of them. A portrait is read once into `Portrait`: the sha256 the decision records is
the hash of exactly the bytes that were analysed.
"""

from __future__ import annotations

import hashlib
import io
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..media.inputs import check_image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the (EXIF-oriented) image


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face a backend found; `embedding` is float32 with L2 norm 1."""

    box: Box
    score: float
    embedding: np.ndarray
    backend: str
    model_id: str

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


def load_portrait(path: Path, field: str = "image") -> Portrait:
    """Check the file like every input, then decode the very bytes that are hashed."""
    path = Path(path)
    check_image(path, field)
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img).convert("RGB")
    return Portrait(path, hashlib.sha256(data).hexdigest(), np.asarray(upright))


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


class FaceBackend(ABC):
    """A face detector + recognition model pair.

    Models are not safe to call from several threads at once, so calls are serialised per
    backend. Results are cached by the portrait's content hash: the same portrait is often
    checked for many clips, and detection is the slow part of the gate.
    """

    name: str
    model_id: str

    def __init__(self, cache_size: int = 64) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int], tuple[DetectedFace, ...]] = OrderedDict()
        self._cache_size = cache_size

    def faces(self, portrait: Portrait, min_face_px: int) -> tuple[DetectedFace, ...]:
        """Every face of at least `min_face_px` (short side) and possibly smaller ones."""
        key = (portrait.sha256, min_face_px)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            found = tuple(self._detect(portrait.rgb, min_face_px))
            if self._cache_size > 0:
                self._cache[key] = found
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return found

    @abstractmethod
    def _detect(self, rgb: np.ndarray, min_face_px: int) -> list[DetectedFace]:
        """Detect and embed, with the detector scaled so faces of `min_face_px` are in range."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}>"
