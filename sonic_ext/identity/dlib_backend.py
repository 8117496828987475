"""dlib: HOG face detector, 5-point landmarks and the 128-d ResNet face descriptor.

The models come from the `face_recognition_models` package (public domain, installs offline).
That package's own `__init__` imports `pkg_resources`, which modern setuptools no longer has, so
its folder is located without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ModelsMissing, NotAvailable
from .faces import DetectedFace, FaceBackend, clip_box, scan_scale, unit_vector

MODEL_ID = "dlib/face_recognition_resnet_model_v1"
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
# The HOG detector scans an 80x80 window; a face is found only if it is at least that large in
# the scanned image. Faces down to this fraction of the policy's minimum are brought into range,
# because detectors disagree on box sizes by some 20%.
DETECTOR_WINDOW_PX = 80
MIN_FACE_MARGIN = 0.8


def dlib_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing("dlib's face models are not installed",
                            hint="install the identity extra: pip install face_recognition_models")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class DlibBackend(FaceBackend):
    name = "dlib"
    model_id = MODEL_ID
    # dlib's frontal detector holds left- and right-looking filters that are mirror images of
    # each other (trained with left-right flips); tests/identity checks a mirrored portrait.
    mirror_symmetric = True

    def __init__(self, models_dir: Path | None = None, cache_size: int = 64) -> None:
        super().__init__(cache_size)
        try:
            import dlib
        except ImportError:
            raise NotAvailable("dlib is not installed",
                               hint="install the identity extra: pip install dlib-bin") from None
        models_dir = models_dir or dlib_models_dir()
        missing = [name for name in (SHAPE_MODEL, RECOGNITION_MODEL)
                   if not (models_dir / name).is_file()]
        if missing:
            raise ModelsMissing(f"dlib model files missing in {models_dir}: {', '.join(missing)}",
                                hint="reinstall face_recognition_models")
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shapes = dlib.shape_predictor(str(models_dir / SHAPE_MODEL))
        self._encoder = dlib.face_recognition_model_v1(str(models_dir / RECOGNITION_MODEL))

    def _detect(self, rgb: np.ndarray, min_face_px: int) -> list[DetectedFace]:
        height, width = rgb.shape[:2]
        scale = scan_scale(width, height, DETECTOR_WINDOW_PX / (min_face_px * MIN_FACE_MARGIN))
        scanned = _resized(rgb, scale)
        rects, scores, _ = self._detector.run(scanned, 0, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            left, top = rect.left() / scale, rect.top() / scale
            right, bottom = (rect.right() + 1) / scale, (rect.bottom() + 1) / scale
            original = self._dlib.rectangle(round(left), round(top), round(right) - 1,
                                            round(bottom) - 1)
            descriptor = self._encoder.compute_face_descriptor(rgb, self._shapes(rgb, original))
            faces.append(DetectedFace(
                box=clip_box(left, top, right, bottom, width, height), score=float(score),
                embedding=unit_vector(np.array(descriptor)), backend=self.name,
                model_id=self.model_id))
        return faces


def _resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return rgb
    image = Image.fromarray(rgb)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR))
