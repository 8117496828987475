"""Face identity: detect faces and embed them, behind one interface with two real backends.

`dlib` (public-domain models, installs offline) and `insightface` (ArcFace, a model pack in the
models folder). Similarities are cosines of unit-length embeddings; thresholds live in the policy,
per model id.
"""

from .backends import BACKEND_CHOICES, FaceBackends
from .dlib_backend import DlibBackend
from .faces import Box, DetectedFace, FaceBackend, Portrait, load_portrait
from .insightface_backend import DEFAULT_PACK, InsightFaceBackend, pack_dir

__all__ = [
    "BACKEND_CHOICES", "Box", "DEFAULT_PACK", "DetectedFace", "DlibBackend", "FaceBackend",
    "FaceBackends", "InsightFaceBackend", "Portrait", "load_portrait", "pack_dir",
]
