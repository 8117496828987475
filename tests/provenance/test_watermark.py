"""The watermark survives what the issue names, costs little PSNR, and embeds chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sonic_ext.errors import InputError
from sonic_ext.provenance.watermark import FrameWatermarker, detect_frames, detect_video

from .conftest import CLIP_ID, moving_frames, psnr, reencode


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


def test_the_product_encode_carries_the_id_in_every_sampled_frame(marked_clip: Path) -> None:
    found = detect_video(marked_clip, max_frames=16)
    assert found.present and found.watermark_id == CLIP_ID
    assert found.frames_checked == 16 and min(found.frame_scores) > 0.95
    assert found.frame_indices[0] == 0 and found.frame_indices[-1] == 99


ATTACKS = {
    "h264 crf 28": {"crf": 28},
    "downscale 0.5x": {"scale": 0.5},
    "brightness +20": {"brightness": 20},
    "brightness -20": {"brightness": -20},
    "2 s excerpt": {"frames": slice(37, 87)},
    "crf 28 + downscale 0.5x": {"crf": 28, "scale": 0.5},
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_reencoded_copies_keep_the_exact_id(attack: str, marked_clip: Path,
                                             tmp_path: Path) -> None:
    copy = reencode(marked_clip, tmp_path / "copy.mp4", **ATTACKS[attack])
    found = detect_video(copy)
    assert found.present, f"{attack}: lost (scores {found.frame_scores[:4]}...)"
    assert found.watermark_id == CLIP_ID
