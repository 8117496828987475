"""The consent gate checks the very pixels the Sonic pipeline is conditioned on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonic_ext.contracts import GenerationParams
from sonic_ext.framing import Framing, condition_on, conditioning
from sonic_ext.sonic.preprocess import prepare_image

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
OBAMA2_FACE = (144, 296, 343, 343)


@pytest.mark.parametrize("framing", [GenerationParams(**changes).framing() for changes in
                                     ({}, {"crop": False}, {"expand_ratio": 0.2},
                                      {"min_resolution": 256})])
def test_the_gates_pixels_are_the_pipelines_reference_image(framing: Framing) -> None:
    with Image.open(FACES / "obama2.jpg") as img:
        portrait = img.convert("RGB")
    seen = conditioning(portrait, OBAMA2_FACE, framing)
    cropped, box = condition_on(portrait, OBAMA2_FACE, framing)
    prepared = prepare_image(cropped, box, min_resolution=framing.min_resolution)
    pipeline = ((prepared.ref_img[0].permute(1, 2, 0) * 0.5 + 0.5) * 255).round().numpy()
    assert seen.rgb.shape == pipeline.shape
    assert np.abs(seen.rgb.astype(np.float64) - pipeline).max() <= 0.5


def test_boxes_map_between_the_portrait_and_the_models_input() -> None:
    with Image.open(FACES / "obama2.jpg") as img:
        seen = conditioning(img.convert("RGB"), OBAMA2_FACE, GenerationParams().framing())
    x0, y0, x1, y1 = seen.region
    assert (x1 - x0, y1 - y0) == (626, 626) and seen.rgb.shape[:2] == (512, 512)
    zoom = 512 / 626
    face_in_input = (round((144 - x0) * zoom), round((296 - y0) * zoom), round(343 * zoom),
                     round(343 * zoom))
    assert seen.to_portrait(face_in_input) == pytest.approx(OBAMA2_FACE, abs=1)
    assert seen.visible_px(OBAMA2_FACE) == round(343 * zoom)
    assert seen.visible_px((x1 - 10, y0, 200, 200)) == round(10 * zoom)  # cut by the crop
    assert seen.visible_px((x1 + 5, y0, 50, 50)) == 0
