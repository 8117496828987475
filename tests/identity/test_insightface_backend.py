"""The insightface backend: real loading, detection, alignment and embedding code on a tiny pack,
and a clear ModelsMissing for every way a pack can be incomplete (never a download attempt)."""

from __future__ import annotations

import numpy as np
import pytest

from sonic_ext.errors import ModelsMissing
from sonic_ext.identity import InsightFaceBackend, load_portrait
from sonic_ext.identity.insightface_backend import _detector_side

from .tiny_pack import MODEL_ID, make_pack, write_recognition_model

MIN_FACE = 64


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_pack_gives_one_face_with_a_unit_512d_embedding(insightface_backend, dlib_backend,
                                                        portraits):
    faces = insightface_backend.faces(portraits["obama"], MIN_FACE)
    assert len(faces) == 1
    face = faces[0]
    assert face.backend == "insightface" and face.model_id == MODEL_ID
    assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
    assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-5
    dlib_face = dlib_backend.faces(portraits["obama"], MIN_FACE)[0]
    assert iou(face.box, dlib_face.box) > 0.4  # both backends found the same head


def test_same_image_embeds_identically(insightface_backend, portraits, tmp_path):
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(portraits["obama"].path.read_bytes() + b"\0")  # new hash, same pixels
    again = insightface_backend.faces(load_portrait(copy), MIN_FACE)[0]
    first = insightface_backend.faces(portraits["obama"], MIN_FACE)[0]
    assert float(first.embedding @ again.embedding) > 0.9999


def test_group_photo_finds_three_faces(insightface_backend, portraits):
    assert len(insightface_backend.faces(portraits["group"], MIN_FACE)) == 3


def test_detector_input_grows_with_the_image_so_small_faces_stay_detectable():
    assert _detector_side(1200, 64) == 640
    assert _detector_side(4000, 64) == 1280  # 4000 * 20 / 64 = 1250, rounded up to 32
    assert _detector_side(8000, 64) == 2528  # 8000 * 20 / 64 = 2500, rounded up to 32
    assert _detector_side(16000, 64) == 2816  # never over 8 MP (MAX_SCAN_PIXELS)


@pytest.fixture
def no_downloads(monkeypatch):
    """Any attempt of insightface to fetch a pack fails the test."""
    import insightface.app.face_analysis as face_analysis
    import insightface.model_zoo.model_zoo as model_zoo
    import insightface.utils.storage as storage

    def refuse(*args, **kwargs):
        raise AssertionError(f"insightface tried to download: {args}")

    for module, name in ((storage, "download_file"), (storage, "download"),
                         (face_analysis, "ensure_available"), (model_zoo, "download_onnx")):
        monkeypatch.setattr(module, name, refuse)


def test_missing_pack_folder_is_models_missing(tmp_path, no_downloads):
    with pytest.raises(ModelsMissing, match="pack not found"):
        InsightFaceBackend(tmp_path / "insightface" / "buffalo_l")


def test_empty_pack_folder_is_models_missing(tmp_path, no_downloads):
    folder = tmp_path / "buffalo_l"
    folder.mkdir()
    with pytest.raises(ModelsMissing, match="no .onnx files"):
        InsightFaceBackend(folder)


def test_detector_only_pack_names_the_missing_recognition_model(tmp_path, no_downloads):
    folder = make_pack(tmp_path, recognition=False)
    with pytest.raises(ModelsMissing, match="no recognition model") as info:
        InsightFaceBackend(folder)
    assert "det_500m.onnx" in str(info.value)


def test_recognition_only_pack_names_the_missing_detector(tmp_path, no_downloads):
    folder = make_pack(tmp_path, detector=False)
    with pytest.raises(ModelsMissing, match="no face detector"):
        InsightFaceBackend(folder)


def test_unreadable_model_file_is_models_missing(tmp_path, no_downloads):
    folder = make_pack(tmp_path, recognition=False)
    (folder / "w600k_r50.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelsMissing, match="cannot be loaded"):
        InsightFaceBackend(folder)


def test_recognition_model_has_the_arcface_shape(tmp_path):
    import onnx

    model = onnx.load(str(write_recognition_model(tmp_path / "rec.onnx")))
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 512]
