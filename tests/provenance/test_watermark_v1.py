"""The 0.1.0 mark (watermark_v1) still reads: videos made before the keyed mark verify through
`detect_mark`'s fallback, and the old detector keeps what it promised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sonic_ext.errors import InputError
from sonic_ext.provenance.watermark import detect_mark
from sonic_ext.provenance.watermark_v1 import (
    FrameWatermarker,
    detect_frames,
    detect_video,
)

from .conftest import CLIP_ID, MARK_KEY, moving_frames, psnr, reencode, write_mp4


def test_marked_frames_stay_close_to_the_originals() -> None:
    frames = moving_frames(8)
    marked = FrameWatermarker(CLIP_ID).embed(frames)
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert np.mean([psnr(a, b) for a, b in zip(frames, marked)]) > 36.5


def test_chunks_marked_separately_carry_one_id_at_any_frame_size() -> None:
    marker = FrameWatermarker(CLIP_ID)
    for size in (256, 640):
        frames = moving_frames(6, size=size)
        chunks = [marker.embed(frames[:2]), marker.embed(frames[2:])]
        found = detect_frames(np.concatenate(chunks))
        assert found.present and found.watermark_id == CLIP_ID
        assert found.frames_checked == 6 and found.confidence > 0.9


def test_a_single_marked_frame_is_enough_in_memory() -> None:
    frame = FrameWatermarker(CLIP_ID).embed_frame(moving_frames(1)[0])
    assert detect_frames([frame]).watermark_id == CLIP_ID


def test_frames_that_cannot_be_marked_are_refused_with_the_reason() -> None:
    marker = FrameWatermarker(CLIP_ID)
    with pytest.raises(InputError, match="at least 256"):
        marker.embed_frame(np.zeros((200, 400, 3), np.uint8))
    with pytest.raises(InputError, match="uint8 RGB"):
        marker.embed_frame(np.zeros((300, 300, 3), np.float32))
    with pytest.raises(InputError, match="hex"):
        FrameWatermarker("not-an-id")


@pytest.fixture(scope="module")
def v1_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s marked by 0.1.0's method, CRF 18 (the product's encode then)."""
    frames = FrameWatermarker(CLIP_ID).embed(moving_frames(100))
    return write_mp4(tmp_path_factory.mktemp("v1") / "marked-0.1.0.mp4", frames, crf=18)


def test_a_video_made_by_0_1_0_is_read_by_the_fallback(v1_clip: Path) -> None:
    found = detect_mark(v1_clip, MARK_KEY)
    assert found.present and found.watermark_id == CLIP_ID
    assert found.method.startswith("0.1.0 mark") and found.geometry is None
    assert detect_mark(v1_clip, None).watermark_id == CLIP_ID  # no key: the old mark only


def test_the_product_encode_carries_the_id_in_every_sampled_frame(v1_clip: Path) -> None:
    found = detect_video(v1_clip, max_frames=16)
    assert found.present and found.watermark_id == CLIP_ID
    assert found.frames_checked == 16 and min(found.frame_scores) > 0.95
    assert found.frame_indices[0] == 0 and found.frame_indices[-1] == 99


ATTACKS = {  # the full table is bench/watermark.py's
    "brightness -20": {"brightness": -20},
    "crf 28 + downscale 0.5x": {"crf": 28, "scale": 0.5},
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_reencoded_copies_keep_the_exact_id(attack: str, v1_clip: Path,
                                             tmp_path: Path) -> None:
    copy = reencode(v1_clip, tmp_path / "copy.mp4", **ATTACKS[attack])
    found = detect_video(copy)
    assert found.present, f"{attack}: lost (scores {found.frame_scores[:4]}...)"
    assert found.watermark_id == CLIP_ID
