"""The keyed, tiled mark: invisible, streamed chunk by chunk, and read back with the exact ID
from copies cropped, rescaled, reframed, mirrored, turned, recoloured, captioned, re-timed and
re-encoded (a representative subset here; bench/watermark.py has the full table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from bench import video_attacks
from sonic_ext.errors import InputError
from sonic_ext.provenance.watermark import (
    FrameWatermarker,
    detect_frames,
    detect_video,
    informed_threshold,
)
from sonic_ext.provenance.watermark_key import WatermarkKey, load_watermark_key

from .conftest import CLIP_ID, MARK_KEY, moving_frames, psnr


def test_marked_frames_meet_the_invisibility_targets() -> None:
    frames = moving_frames(6)
    marked = FrameWatermarker(CLIP_ID, MARK_KEY).embed(frames)
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert np.mean([psnr(a, b) for a, b in zip(frames, marked)]) >= 40.0
    assert np.mean([structural_similarity(a, b, channel_axis=2)
                    for a, b in zip(frames, marked)]) >= 0.98


def test_chunks_marked_separately_carry_one_id_at_any_frame_size() -> None:
    marker = FrameWatermarker(CLIP_ID, MARK_KEY)
    for size in (256, 640):
        frames = moving_frames(8, size=size)
        chunks = [marker.embed(frames[:3]), marker.embed(frames[3:])]
        found = detect_frames(np.concatenate(chunks), MARK_KEY)
        assert found.present and found.watermark_id == CLIP_ID
        assert found.geometry is not None and not found.geometry.mirrored
        assert found.frames_checked == 8 and found.confidence > 0.9


def test_only_the_installation_key_finds_or_reads_the_mark() -> None:
    marked = FrameWatermarker(CLIP_ID, MARK_KEY).embed(moving_frames(8))
    other = detect_frames(marked, WatermarkKey.generate())
    assert not other.present and other.watermark_id is None
    assert other.sync_z < 6.0  # the other key's sync pattern is not there at all


def test_frames_that_cannot_be_marked_are_refused_with_the_reason() -> None:
    marker = FrameWatermarker(CLIP_ID, MARK_KEY)
    with pytest.raises(InputError, match="at least 128"):
        marker.embed_frame(np.zeros((100, 400, 3), np.uint8))
    with pytest.raises(InputError, match="uint8 RGB"):
        marker.embed_frame(np.zeros((300, 300, 3), np.float32))
    with pytest.raises(InputError, match="hex"):
        FrameWatermarker("not-an-id", MARK_KEY)


def test_the_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "watermark.key"
    assert load_watermark_key(path, create=False) is None
    made = load_watermark_key(path, create=True)
    assert made is not None and path.stat().st_mode & 0o777 == 0o600
    assert load_watermark_key(path, create=False) == made
    assert made.secret.hex() not in repr(made)


def test_a_deployment_key_that_is_missing_or_damaged_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="SONIC_WATERMARK_KEY"):
        load_watermark_key(tmp_path / "shared.key", create=True, shared=True)
    (tmp_path / "bad.key").write_text("not hex")
    with pytest.raises(InputError, match="32-byte key"):
        load_watermark_key(tmp_path / "bad.key", create=False)


def test_the_informed_threshold_keeps_the_false_positive_rate_with_many_ids() -> None:
    assert informed_threshold(1, 1) == 7.0
    assert 7.0 < informed_threshold(1_000_000, 33) < 8.0


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of a public-domain portrait 'talking', marked, as the product encodes it (CRF 18)."""
    frames = video_attacks.source_clip(video_attacks.load_image("obama"), 6, motion="talking")
    marked = FrameWatermarker(CLIP_ID, MARK_KEY).embed(frames)
    return video_attacks.write_mp4(tmp_path_factory.mktemp("v2") / "product.mp4", marked, 25)


DECOYS = [f"{i:012x}" for i in range(1, 1000)]  # a registry of 1,000 outputs, ours among them
REGISTRY = [*DECOYS, CLIP_ID]

# attack -> what the detector must say about the geometry
ATTACKS = {
    "h264-crf28-veryfast": "same geometry",
    "crop10-offcentre": "same geometry",
    "crop10-crf28-0.75x": "scaled by 0.7",
    "aspect-480x640": "aspect ratio changed",
    "pillarbox-1920x1080": "scaled by 2.1",
    "hflip": "mirrored",
    "rotate90": "rotated 90 degrees",
    "caption": "same geometry",
    "fps30": "same geometry",
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacked_copies_give_back_the_exact_id_and_the_transform(
        attack: str, product: Path, tmp_path: Path) -> None:
    copy = video_attacks.apply(attack, product, tmp_path / f"{attack}.mp4")
    found = detect_video(copy, MARK_KEY, known_ids=REGISTRY)  # as verify reads it
    assert found.present and found.watermark_id == CLIP_ID, f"{attack}: z={found.sync_z:.1f}"
    assert found.geometry is not None
    assert ATTACKS[attack] in found.geometry.describe((512, 512))


def test_a_marked_segment_inside_unmarked_video_is_found_and_located(product: Path,
                                                                    tmp_path: Path) -> None:
    out = video_attacks.apply_with_info("insert-3s", product, tmp_path / "insert.mp4")
    found = detect_video(out.path, MARK_KEY, max_frames=96, known_ids=REGISTRY)
    assert found.watermark_id == CLIP_ID
    (start, end), = out.marked_segments
    assert found.segments, "no segment reported"
    first, last = found.segments[0][0], found.segments[-1][1]
    assert start - 1.0 <= first and last <= end + 1.0 and last - first >= 1.5


@pytest.mark.xfail(strict=True, reason="known gap: crop + 0.75x + CRF 32 + 30 fps + caption "
                   "reads on the astronaut and coffee clips with the registry, not on this one "
                   "(bench/watermark.py)")
def test_the_combined_attack_is_read_against_the_registry_ids(product: Path,
                                                              tmp_path: Path) -> None:
    copy = video_attacks.apply("combo-crop-scale-crf32-fps30-caption", product,
                               tmp_path / "combo.mp4")
    assert not detect_video(copy, MARK_KEY, known_ids=DECOYS).present  # never a wrong ID
    found = detect_video(copy, MARK_KEY, known_ids=REGISTRY)
    assert found.present and found.watermark_id == CLIP_ID
