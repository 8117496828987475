"""`auto` picks insightface when its pack is complete, else dlib; enrolment uses all available."""

from __future__ import annotations

import pytest

from sonic_ext.errors import InputError, ModelsMissing
from sonic_ext.identity import DlibBackend, FaceBackends, InsightFaceBackend

from .tiny_pack import PACK, make_pack


def test_auto_uses_insightface_when_its_pack_is_complete(tiny_models_dir):
    backends = FaceBackends(tiny_models_dir, insightface_pack=PACK)
    assert isinstance(backends.get("auto"), InsightFaceBackend)
    assert {b.name for b in backends.available()} == {"insightface", "dlib"}
    assert backends.get("auto") is backends.get("insightface")  # loaded once


def test_auto_falls_back_to_dlib_without_a_pack(tmp_path):
    backends = FaceBackends(tmp_path)
    assert isinstance(backends.get("auto"), DlibBackend)
    assert [b.name for b in backends.available()] == ["dlib"]
    with pytest.raises(ModelsMissing, match="buffalo_l"):
        backends.get("insightface")


def test_auto_falls_back_to_dlib_with_a_detector_only_pack(tmp_path):
    make_pack(tmp_path, recognition=False, name="buffalo_l")
    assert isinstance(FaceBackends(tmp_path).get("auto"), DlibBackend)


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(InputError, match="unknown face backend"):
        FaceBackends(tmp_path).get("opencv")
