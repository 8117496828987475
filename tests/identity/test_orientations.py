"""Faces in any orientation: dlib's HOG detector is frontal-only, so the backends scan every
quarter turn (and mirrored, unless the detector is mirror-symmetric) and map boxes back."""

from __future__ import annotations

import numpy as np
import pytest

from sonic_ext.identity.faces import ORIENTATIONS, box_from_oriented, oriented

MIN_FACE = 64


@pytest.mark.parametrize(("turns", "mirrored"), ORIENTATIONS)
def test_a_box_found_in_an_oriented_image_maps_back_onto_the_original(turns, mirrored):
    rgb = np.zeros((30, 50, 3), np.uint8)
    rgb[5:8, 10:14] = 255
    view = oriented(rgb, turns, mirrored)
    ys, xs = np.nonzero(view[..., 0])
    box = box_from_oriented((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), turns, mirrored,
                            50, 30)
    assert tuple(round(v) for v in box) == (10, 5, 14, 8)


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_turned_portrait_is_found_with_the_same_identity(dlib_backend, portraits, turns):
    upright = portraits["obama2"]
    (face,) = dlib_backend.faces(upright, MIN_FACE)
    turned = dlib_backend.faces(np.rot90(upright.rgb, turns), MIN_FACE)
    assert len(turned) == 1
    assert turned[0].orientation == f"turned {90 * (4 - turns)}"
    assert float(turned[0].embedding @ face.embedding) > 0.99
    height, width = upright.rgb.shape[:2]
    x, y, w, h = turned[0].box
    assert (w, h) == pytest.approx((face.box[2], face.box[3]), abs=2)
    assert 0 <= x and x + w <= (height if turns % 2 else width)


def test_dlib_finds_a_mirrored_face_without_a_mirrored_scan(dlib_backend, portraits):
    """The mirrored scans are skipped for dlib (`mirror_symmetric`): its detector holds mirrored
    filter pairs, so a mirrored portrait is found in the upright scan itself."""
    assert dlib_backend.mirror_symmetric
    mirrored = dlib_backend._detect(np.ascontiguousarray(portraits["obama2"].rgb[:, ::-1]),
                                    MIN_FACE)
    assert len(mirrored) == 1
