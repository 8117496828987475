"""The perceptual fingerprint: its blob, and the comparison that binds a watermark to its pictures.

Genuine copies go through what platforms do (re-encodes, tone changes, captions, logos, rescale,
excerpts) and must match; another video, and the same video with another face pasted over the
animated one, must not. Clips: tests/provenance/fingerprint_clips.py.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from sonic_ext.provenance import fingerprint as fpmod
from sonic_ext.provenance.fingerprint import (
    Fingerprint,
    FingerprintMatch,
    FingerprintRecorder,
    View,
    similarity,
    views_from_frames,
)

from . import fingerprint_clips as clips
from .conftest import read_frames, write_mp4

FPS = clips.FPS
SECONDS = 3


@dataclass(frozen=True, eq=False)
class Clip:
    frames: np.ndarray  # as published (decoded from the product's CRF 18 encode)
    box: tuple[float, float, float, float]
    blob: bytes

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint.from_bytes(self.blob)


def record(frames: np.ndarray, box: tuple[float, float, float, float] | None = None,
           chunk: int = 16) -> bytes:
    recorder = FingerprintRecorder(FPS, box)
    for start in range(0, len(frames), chunk):
        assert recorder.add(frames[start:start + chunk]) is not None
    return recorder.finish()


def published(tmp: Path, frames: np.ndarray) -> np.ndarray:
    return read_frames(write_mp4(tmp / "published.mp4", frames, crf=18, audio=False))


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """Barack Obama talking for 3 s, as published, with its fingerprint."""
    base, box = clips.portrait_crop("obama.jpg")
    frames = published(tmp_path_factory.mktemp("talk"), clips.animate(base, box, SECONDS * FPS))
    return Clip(frames, box, record(frames, box))


def compare(fp: Fingerprint, frames: np.ndarray, path: Path, *, crf: int = 35,
            rate: float = FPS) -> FingerprintMatch:
    """What verify sees: the copy encoded (H.264 at `crf`), decoded, 32 frames sampled."""
    copy = read_frames(write_mp4(path, frames, crf=crf, audio=False))
    return compare_decoded(fp, copy, rate)


def compare_decoded(fp: Fingerprint, copy: np.ndarray, rate: float = FPS) -> FingerprintMatch:
    picked = np.linspace(0, len(copy) - 1, min(32, len(copy))).round().astype(int)
    return similarity(fp, views_from_frames(list(copy[picked]), list(picked / rate), fp))


def vp9(path: Path, frames: np.ndarray, bit_rate: int = 400_000) -> np.ndarray:
    """Encoded as a platform's VP9 rendition at `bit_rate`, and decoded again."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.bit_rate = bit_rate
        stream.options = {"deadline": "realtime", "cpu-used": "8"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return read_frames(path)


# -- the blob -------------------------------------------------------------------------------

def test_the_blob_is_versioned_compact_and_streamed(talk: Clip) -> None:
    fp = talk.fingerprint
    assert talk.blob[:4] == b"SNFP" and talk.blob[4] == fpmod.VERSION
    assert fp.frame_size == (512, 512) and fp.thumb_size == (40, 40)
    assert fp.times.tolist() == [0.0, 1.0, 2.0]
    assert len(talk.blob) <= 2048 * SECONDS
    x, y, w, h = fp.face_box  # type: ignore[misc]
    assert (x, y, w, h) == pytest.approx(tuple(v * 40 / 512 for v in talk.box), abs=1e-3)
    assert record(talk.frames, talk.box, chunk=7) == talk.blob  # chunking changes nothing
    assert record(talk.frames[:1]).startswith(b"SNFP")  # one frame is enough for one thumbnail


def test_other_aspects_keep_the_budget_and_the_box_follows_a_resize() -> None:
    frames = np.zeros((FPS * 10, 384, 640, 3), np.uint8)
    recorder = FingerprintRecorder(FPS, (160, 96, 64, 64), box_space=(320, 192))
    recorder.add(frames)
    fp = Fingerprint.from_bytes(recorder.finish())
    assert fp.thumb_size == (31, 52) and len(fp.times) == 10
    assert fp.face_box == pytest.approx((26.0, 15.5, 10.4, 10.33), abs=0.01)
    assert len(recorder.finish()) <= 2048 * 10


def test_a_damaged_or_foreign_blob_is_refused(talk: Clip) -> None:
    for blob, problem in ((talk.blob[:-1], "header says"), (b"PK\x03\x04" + talk.blob[4:],
                                                            "not a fingerprint"),
                          (talk.blob[:4] + bytes([9]) + talk.blob[5:], "format 9"),
                          (b"SNFP", "truncated")):
        with pytest.raises(ValueError, match=problem):
            Fingerprint.from_bytes(blob)
    with pytest.raises(ValueError, match="frame size changed"):
        recorder = FingerprintRecorder(FPS)
        recorder.add(talk.frames[:2])
        recorder.add(np.zeros((1, 256, 256, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        FingerprintRecorder(FPS).finish()
    assert struct.calcsize("<4sBHHBBfB4fI") == fpmod._HEADER.size


# -- genuine copies match -------------------------------------------------------------------

GENUINE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "H.264 CRF 35": lambda f: f,
    "brightness +20": lambda f: clips.brightness(f, 20),
    "brightness -20": lambda f: clips.brightness(f, -20),
    "contrast 0.8": lambda f: clips.contrast(f, 0.8),
    "contrast 1.2": lambda f: clips.contrast(f, 1.2),
    "gamma 0.8": lambda f: clips.gamma(f, 0.8),
    "saturation 0.5": lambda f: clips.saturation(f, 0.5),
    "noise sigma 3": lambda f: clips.noise(f, 3),
    "caption bar 15 %": clips.caption,
    "logo 15 % in a corner": clips.logo,
    "one thumbnail pixel off": lambda f: clips.shift(f, 13, 0),
    "half size, blurred": lambda f: clips.blur(clips.rescale(f, 0.5), 1.0),
    "excerpt of 1.6 s": lambda f: f[20:60],
    "15 fps": lambda f: f[np.round(np.arange(0, len(f), FPS / 15)).astype(int)],
}


@pytest.mark.parametrize("change", list(GENUINE))
def test_a_copy_through_a_platform_matches(talk: Clip, change: str, tmp_path: Path) -> None:
    match = compare(talk.fingerprint, GENUINE[change](talk.frames), tmp_path / "copy.mp4",
                    rate=15 if change == "15 fps" else FPS)
    assert match.matched, match.explain()
    assert match.related_views == len(match.views)
    assert "the pictures match" in match.explain()


def test_a_vp9_rendition_matches(talk: Clip, tmp_path: Path) -> None:
    match = compare_decoded(talk.fingerprint, vp9(tmp_path / "copy.webm", talk.frames))
    assert match.matched, match.explain()


def test_a_copy_cropped_by_a_platform_matches_where_it_still_shows_the_original(
        talk: Clip) -> None:
    """The watermark detector maps a crop back into the original's grid: NaN where cut."""
    fp = talk.fingerprint
    views = views_from_frames(list(talk.frames[::8]), [i / FPS for i in range(0, 75, 8)], fp)
    cut = [View(np.where(np.arange(40)[:, None] < 28, v.pixels, np.nan).astype(np.float32),
                v.time_s) for v in views]
    assert similarity(fp, cut).matched


def test_a_segment_inside_a_longer_video_matches(talk: Clip, tmp_path: Path) -> None:
    other, box = clips.portrait_crop("obama2.jpg")
    longer = np.concatenate([clips.animate(other, box, 40), talk.frames, clips.animate(other, box,
                                                                                    40)])
    match = compare(talk.fingerprint, longer, tmp_path / "longer.mp4", crf=28)
    assert match.matched, match.explain()
    assert 0 < match.related_views < len(match.views)


# -- other pictures do not ------------------------------------------------------------------

@pytest.mark.parametrize("portrait", ["obama2.jpg", "biden2.jpg", "collins.jpg"])
def test_another_talking_head_does_not_match(talk: Clip, portrait: str, tmp_path: Path) -> None:
    base, box = clips.portrait_crop(portrait)
    match = compare(talk.fingerprint, clips.animate(base, box, SECONDS * FPS),
                    tmp_path / "other.mp4", crf=23)
    assert not match.matched and match.related_views == 0
    assert match.explain().startswith("no frame shows the recorded video")


def test_another_scene_does_not_match(talk: Clip, tmp_path: Path) -> None:
    from skimage import data

    frames = clips.animate(np.asarray(clips.rescale(data.coffee()[None], 1)[0][:, 100:500]),
                           (100, 100, 200, 200), SECONDS * FPS)
    frames = clips.rescale(frames, 512 / frames.shape[1])
    assert not compare(talk.fingerprint, frames, tmp_path / "coffee.mp4", crf=23).matched


@pytest.mark.parametrize("donor", ["biden2.jpg", "collins.jpg"])
def test_the_same_video_with_another_face_does_not_match(talk: Clip, donor: str,
                                                         tmp_path: Path) -> None:
    base, box = clips.portrait_crop("obama.jpg")
    swapped = clips.animate(clips.paste_face(base, box, donor), box, SECONDS * FPS)
    match = compare(talk.fingerprint, swapped, tmp_path / "swapped.mp4", crf=23)
    assert not match.matched
    assert match.face < fpmod.FACE_MIN and "the face region differs" in match.explain()


def test_without_a_recorded_box_the_face_is_where_the_pictures_move(talk: Clip,
                                                                    tmp_path: Path) -> None:
    fp = Fingerprint.from_bytes(record(talk.frames))
    assert fpmod.face_region(fp)[1] in ("motion", "centre")
    assert compare_decoded(fp, talk.frames).matched
    base, box = clips.portrait_crop("obama.jpg")
    swapped = clips.animate(clips.paste_face(base, box, "biden2.jpg"), box, SECONDS * FPS)
    assert not compare(fp, swapped, tmp_path / "swapped.mp4", crf=23).matched
