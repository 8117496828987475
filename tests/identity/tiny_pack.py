"""A small insightface model pack made on the spot: the real SCRFD-500M detector plus a tiny
ArcFace-shaped recognition model (1x3x112x112 in, 512 out) with seeded random weights.

insightface routes models by their input/output shapes, so its real loading, detection,
alignment and embedding code runs on this pack; only the similarities are meaningless
(the pack's threshold in the test policy is accordingly strict: identical images only).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DETECTOR = Path(__file__).resolve().parents[1] / "fixtures" / "insightface" / "buffalo_sc" / \
    "det_500m.onnx"
PACK = "tiny_test"
MODEL_ID = f"insightface/{PACK}"
THRESHOLD = 0.99


def write_recognition_model(path: Path, seed: int = 0) -> Path:
    """Conv 8x8/8 -> ReLU -> flatten -> 512: a random projection of the aligned face crop."""
    rng = np.random.default_rng(seed)
    conv = (rng.standard_normal((16, 3, 8, 8)) * 0.05).astype(np.float32)
    dense = (rng.standard_normal((16 * 14 * 14, 512)) * 0.01).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["data", "conv"], ["c"], kernel_shape=[8, 8], strides=[8, 8]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Flatten", ["r"], ["f"], axis=1),
         helper.make_node("MatMul", ["f", "dense"], ["fc1"])],
        "tiny_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 512])],
        initializer=[numpy_helper.from_array(conv, "conv"),
                     numpy_helper.from_array(dense, "dense")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_pack(models_dir: Path, *, detector: bool = True, recognition: bool = True,
              name: str = PACK) -> Path:
    """`<models_dir>/insightface/<name>/` with the chosen files; returns the pack folder."""
    folder = models_dir / "insightface" / name
    folder.mkdir(parents=True, exist_ok=True)
    if detector:
        shutil.copyfile(DETECTOR, folder / "det_500m.onnx")
    if recognition:
        write_recognition_model(folder / "w600k_tiny.onnx")
    return folder


def policy_toml(dlib_threshold: float) -> str:
    return ("[identity.thresholds]\n"
            f'"dlib/face_recognition_resnet_model_v1" = {dlib_threshold}\n'
            f'"{MODEL_ID}" = {THRESHOLD}\n')
