"""Which backends an installation has, loaded once and shared.

`auto` means insightface when its pack (detector and recognition model) is present, else dlib.
Enrolment uses every available backend, so a later switch of backend finds references waiting.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ..errors import InputError, NotAvailable
from .dlib_backend import DlibBackend
from .faces import FaceBackend
from .insightface_backend import DEFAULT_PACK, InsightFaceBackend, pack_dir

log = logging.getLogger(__name__)

BACKEND_CHOICES = ("auto", "insightface", "dlib")


class FaceBackends:
    """Lazily loaded backends of one installation (`models_dir` from Settings).

    A backend that failed to load is remembered as failed: models added later are picked up by
    the next process, not in the middle of one.
    """

    def __init__(self, models_dir: Path, insightface_pack: str = DEFAULT_PACK,
                 cache_size: int = 64) -> None:
        self.insightface_dir = pack_dir(Path(models_dir), insightface_pack)
        self._cache_size = cache_size
        self._loaded: dict[str, FaceBackend | NotAvailable] = {}
        self._lock = threading.Lock()

    def get(self, choice: str) -> FaceBackend:
        """The backend for a policy's `identity.backend`; raises NotAvailable/ModelsMissing."""
        if choice not in BACKEND_CHOICES:
            raise InputError("identity.backend", f"unknown face backend {choice!r}",
                             hint=f"use one of {', '.join(BACKEND_CHOICES)}")
        if choice != "auto":
            return self._load(choice)
        try:
            return self._load("insightface")
        except NotAvailable as exc:
            log.info("face backend auto: using dlib (%s)", exc)
            return self._load("dlib")

    def available(self) -> tuple[FaceBackend, ...]:
        """Every backend whose library and models are present; at least one, else the reason."""
        found, problems = [], []
        for name in ("insightface", "dlib"):
            try:
                found.append(self._load(name))
            except NotAvailable as exc:
                problems.append(str(exc))
        if not found:
            raise NotAvailable("no face backend is available: " + "; ".join(problems),
                               hint="install the identity extra (dlib-bin, "
                                    "face_recognition_models)")
        return tuple(found)

    def _load(self, name: str) -> FaceBackend:
        with self._lock:
            if name not in self._loaded:
                try:
                    self._loaded[name] = self._construct(name)
                except NotAvailable as exc:
                    self._loaded[name] = exc
            result = self._loaded[name]
        if isinstance(result, NotAvailable):
            raise type(result)(result.message, hint=result.hint)
        return result

    def _construct(self, name: str) -> FaceBackend:
        if name == "dlib":
            return DlibBackend(cache_size=self._cache_size)
        return InsightFaceBackend(self.insightface_dir, cache_size=self._cache_size)
