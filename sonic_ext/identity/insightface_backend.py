"""insightface: SCRFD detector + ArcFace recognition (512-d) from a model-pack folder.

The pack folder holds the pack's `.onnx` files (e.g. `buffalo_l/det_10g.onnx` and
`buffalo_l/w600k_r50.onnx`). insightface itself would download a missing pack or fail with a
bare AssertionError; here a missing or partial pack is a `ModelsMissing` that names the folder and
what to put in it, and nothing is ever downloaded.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelsMissing, NotAvailable
from .faces import MAX_SCAN_PIXELS, DetectedFace, FaceBackend, clip_box, unit_vector

DEFAULT_PACK = "buffalo_l"
# SCRFD finds faces down to about 16 px in its input; the input is sized so that faces of the
# policy's minimum are at least this large there. 640 is insightface's own default.
MIN_FACE_IN_DETECTOR_PX = 20
MIN_DETECTOR_SIDE = 640
DETECTOR_STRIDE = 32
PACK_HINT = ("put the pack's detector (det_*.onnx) and recognition model (w600k_*.onnx) there, "
             "or use the dlib backend (policy identity.backend = \"dlib\" or \"auto\")")


def pack_dir(models_dir: Path, pack: str = DEFAULT_PACK) -> Path:
    """Where an installation keeps an insightface pack: `<models_dir>/insightface/<pack>`."""
    return models_dir / "insightface" / pack


class InsightFaceBackend(FaceBackend):
    """The pack folder's name is the model id's second part: `insightface/buffalo_l`."""

    name = "insightface"

    def __init__(self, folder: Path, cache_size: int = 64) -> None:
        super().__init__(cache_size)
        folder = Path(folder)
        self.folder = folder
        self.model_id = f"insightface/{folder.name}"
        if not folder.is_dir():
            raise ModelsMissing(f"insightface model pack not found: {folder}", hint=PACK_HINT)
        if not any(folder.glob("*.onnx")):
            raise ModelsMissing(f"insightface model pack {folder} has no .onnx files",
                                hint=PACK_HINT)
        app = _load_pack(folder)
        self._detector = app.models["detection"]
        self._recognition = app.models["recognition"]

    def _detect(self, rgb: np.ndarray, min_face_px: int) -> list[DetectedFace]:
        from insightface.app.common import Face

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        height, width = rgb.shape[:2]
        side = _detector_side(max(height, width), min_face_px)
        boxes, landmarks = self._detector.detect(bgr, input_size=(side, side))
        faces = []
        for i, row in enumerate(boxes):
            face = Face(bbox=row[:4], kps=landmarks[i], det_score=row[4])
            with warnings.catch_warnings():
                # scikit-image 0.26 deprecates the call insightface's alignment makes
                warnings.simplefilter("ignore", FutureWarning)
                self._recognition.get(bgr, face)
            faces.append(DetectedFace(
                box=clip_box(*(float(v) for v in row[:4]), width, height),
                score=float(row[4]), embedding=unit_vector(face.embedding),
                backend=self.name, model_id=self.model_id))
        return faces


def _detector_side(longest_side: int, min_face_px: int) -> int:
    """Detector input side: 640, or larger when a minimum-size face would shrink too far, but
    never over `MAX_SCAN_PIXELS` (the input is square)."""
    needed = longest_side * MIN_FACE_IN_DETECTOR_PX / min_face_px
    ceiling = math.isqrt(MAX_SCAN_PIXELS) // DETECTOR_STRIDE * DETECTOR_STRIDE
    side = max(MIN_DETECTOR_SIDE, math.ceil(needed / DETECTOR_STRIDE) * DETECTOR_STRIDE)
    return min(side, ceiling)


def _load_pack(folder: Path) -> Any:
    """A prepared `FaceAnalysis` with a detector and a recognition model, or ModelsMissing."""
    try:
        from insightface.app import FaceAnalysis
    except ImportError:
        raise NotAvailable("insightface is not installed",
                           hint="install the identity extra: pip install insightface "
                                "onnxruntime") from None
    try:
        # A folder path (never a pack name) so insightface cannot try to download anything.
        app = FaceAnalysis(name=str(folder.resolve()), allowed_modules=["detection", "recognition"],
                           providers=["CPUExecutionProvider"])
    except AssertionError:
        raise ModelsMissing(f"insightface model pack {folder} has no face detector model",
                            hint=PACK_HINT) from None
    except Exception as exc:  # onnx/onnxruntime raise their own types for unreadable files
        raise ModelsMissing(f"insightface model pack {folder} cannot be loaded: {exc}",
                            hint=PACK_HINT) from None
    if "recognition" not in app.models:
        found = ", ".join(sorted(p.name for p in folder.glob("*.onnx")))
        raise ModelsMissing(f"insightface model pack {folder} has no recognition model "
                            f"(found: {found})", hint=PACK_HINT)
    app.prepare(ctx_id=-1)
    return app
