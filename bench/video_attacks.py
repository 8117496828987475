"""What platforms and editors do to a video, as MP4-to-MP4 attacks, plus source and unmarked clips.

Everything runs on decoded frames (PyAV decode, numpy/OpenCV transform, PyAV encode); no ffmpeg
binary is needed. Each attack in `ATTACKS` has a stable key and a short label:

    from bench.video_attacks import ATTACKS, apply, apply_with_info, source_clip, write_mp4
    out = apply("crop10-centre", marked_mp4, tmp / "crop.mp4")
    info = apply_with_info("insert-3s", marked_mp4, tmp / "ins.mp4")   # info.marked_segments

Attacks that do not name a codec end with the platform encode, H.264 CRF 23 preset medium
(`PLATFORM`); outputs are yuv420p with even sizes and video only. Frame-rate changes pick the
nearest source frame by time, so the duration stays that of the input.

Source clips: `source_clip(image, seconds, motion=...)` animates a still ("talking": slight head
drift with a moving mouth region, "pan", "zoom"); `benchmark_sources(n, ...)` gives n different
ones; `unmarked_clips(count, ...)` yields varied unmarked clips for false-positive counts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
from skimage import data

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner and settings to stderr otherwise

FACES_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faces"
Motion = Literal["talking", "pan", "zoom"]
Frame = np.ndarray  # (H, W, 3) uint8 RGB
FrameOp = Callable[[Frame, float], Frame]  # (frame, output time in s) -> frame


# --------------------------------------------------------------------------------------------
# Encoding and decoding


@dataclass(frozen=True)
class Encode:
    """One encoder setting: codec, rate control (CRF or target bit rate), speed preset."""

    codec: str = "libx264"
    crf: int | None = 23
    preset: str | int | None = "medium"
    bitrate: int | None = None  # bit/s; when set, CRF is not used

    def options(self) -> dict[str, str]:
        opts: dict[str, str] = {}
        if self.bitrate is None and self.crf is not None:
            opts["crf"] = str(self.crf)
        if self.codec == "libx265":
            opts["x265-params"] = "log-level=error"
            if self.preset is not None:
                opts["preset"] = str(self.preset)
        elif self.codec == "libvpx-vp9":
            # realtime + cpu-used 6: ~6x faster than "good" on 2 cores, ~1 dB PSNR below it at
            # the same bit rate, so a slightly harsher attack than a platform's 2-pass encode.
            opts.update({"deadline": "realtime", "cpu-used": str(self.preset or 6),
                         "row-mt": "1"})
            if self.bitrate is None:
                opts["b"] = "0"  # constant quality
        elif self.preset is not None:
            opts["preset"] = str(self.preset)
        return opts

    def describe(self) -> str:
        rate = f"{self.bitrate // 1000} kbit/s" if self.bitrate else f"CRF {self.crf}"
        return f"{self.codec} {rate}" + (f" preset {self.preset}" if self.preset else "")


PLATFORM = Encode("libx264", crf=23, preset="medium")
PRODUCT = Encode("libx264", crf=18, preset="medium")


def encoder_available(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - PyAV raises different errors for unknown codecs
        return False
    return True


class _Writer:
    """An MP4 writer opened on the first frame (its size is known only then)."""

    def __init__(self, path: Path, fps: Fraction, encode: Encode) -> None:
        self.path, self.fps, self.encode = path, fps, encode
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self.count = 0
        self.size: tuple[int, int] | None = None  # (width, height)

    def write(self, frame: Frame) -> None:
        frame = _even(frame)
        if self._container is None:
            self._open(frame.shape[1], frame.shape[0])
        assert self._container is not None and self._stream is not None
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame {self.count} is {frame.shape[1]}x{frame.shape[0]}, "
                             f"the stream is {self.size}")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts, picture.time_base = self.count, 1 / self.fps
        self._container.mux(self._stream.encode(picture))
        self.count += 1

    def _open(self, width: int, height: int) -> None:
        self.size = (width, height)
        self._container = av.open(str(self.path), "w", format="mp4")
        stream = self._container.add_stream(self.encode.codec, rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if self.encode.bitrate:
            stream.bit_rate = self.encode.bitrate
        stream.options = self.encode.options()
        self._stream = stream

    def close(self) -> None:
        if self._container is None:
            raise ValueError(f"no frames were written to {self.path}")
        assert self._stream is not None
        self._container.mux(self._stream.encode())
        self._container.close()


def write_mp4(path: Path, frames: Iterable[Frame], fps: float | Fraction = 25, crf: int = 18,
              preset: str | int | None = "medium", codec: str = "libx264",
              bitrate: int | None = None) -> Path:
    """Encode RGB frames (an array or any iterable, streamed) to a video-only yuv420p MP4."""
    writer = _Writer(Path(path), Fraction(fps).limit_denominator(1001),
                     Encode(codec, crf, preset, bitrate))
    for frame in frames:
        writer.write(frame)
    writer.close()
    return Path(path)


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int

    @property
    def duration_s(self) -> float:
        return float(self.frames / self.fps)


def probe(path: Path) -> VideoInfo:
    """Size, frame rate and frame count of the first video stream (counts packets if needed)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        count = stream.frames or sum(1 for p in container.demux(stream) if p.size)
        return VideoInfo(stream.width, stream.height, Fraction(rate), int(count))


def iter_frames(path: Path) -> Iterator[Frame]:
    """Every frame of the first video stream as RGB, decoded in order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


def read_frames(path: Path) -> np.ndarray:
    return np.stack(list(iter_frames(path)))


def _even(frame: Frame) -> Frame:
    height, width = frame.shape[:2]
    if height % 2 or width % 2:
        frame = frame[:height // 2 * 2, :width // 2 * 2]
    return frame


def _even_size(width: float, height: float) -> tuple[int, int]:
    return max(2, round(width / 2) * 2), max(2, round(height / 2) * 2)


# --------------------------------------------------------------------------------------------
# Frame operations (each returns a new RGB frame; `t` is the output time, used by overlays/noise)


def crop_area(keep: float, anchor: tuple[float, float] = (0.5, 0.5)) -> FrameOp:
    """Keep `keep` of the area (same aspect); `anchor` places the window in the margin (0: left/top)."""
    def op(frame: Frame, t: float) -> Frame:
        x, y, w, h = crop_box(frame.shape[1], frame.shape[0], keep, anchor)
        return frame[y:y + h, x:x + w]
    return op


def crop_box(width: int, height: int, keep: float,
             anchor: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the window `crop_area` keeps from a width x height frame."""
    side = math.sqrt(keep)
    w, h = _even_size(width * side, height * side)
    return round((width - w) * anchor[0]), round((height - h) * anchor[1]), w, h


def scale(factor: float) -> FrameOp:
    def op(frame: Frame, t: float) -> Frame:
        return resize_to(*_even_size(frame.shape[1] * factor, frame.shape[0] * factor))(frame, t)
    return op


def resize_to(width: int, height: int) -> FrameOp:
    def op(frame: Frame, t: float) -> Frame:
        shrinking = width * height < frame.shape[0] * frame.shape[1]
        return cv2.resize(frame, (width, height),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return op


def fit_pad(width: int, height: int) -> FrameOp:
    """Scale to fit inside width x height and pad with black (letterbox / pillarbox)."""
    def op(frame: Frame, t: float) -> Frame:
        x, y, w, h = fit_box(frame.shape[1], frame.shape[0], width, height)
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[y:y + h, x:x + w] = resize_to(w, h)(frame, t)
        return canvas
    return op


def fit_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) where `fit_pad` puts the picture."""
    ratio = min(width / src_w, height / src_h)
    w, h = _even_size(src_w * ratio, src_h * ratio)
    w, h = min(w, width), min(h, height)
    return (width - w) // 2 // 2 * 2, (height - h) // 2 // 2 * 2, w, h


def hflip(frame: Frame, t: float) -> Frame:
    return np.ascontiguousarray(frame[:, ::-1])


def rotate90(frame: Frame, t: float) -> Frame:
    return cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE)


def _lut(table: np.ndarray) -> FrameOp:
    table = np.clip(np.round(table), 0, 255).astype(np.uint8)
    return lambda frame, t: cv2.LUT(frame, table)


def brightness(delta: int) -> FrameOp:
    return _lut(np.arange(256, dtype=np.float64) + delta)


def contrast(factor: float) -> FrameOp:
    """Scale about mid-grey 128 (ffmpeg eq's contrast)."""
    return _lut((np.arange(256, dtype=np.float64) - 128) * factor + 128)


def gamma(value: float) -> FrameOp:
    """out = 255 (in / 255) ** (1 / value) (ffmpeg eq's gamma; 0.8 darkens the mid-tones)."""
    return _lut(255 * (np.arange(256, dtype=np.float64) / 255) ** (1 / value))


def saturation(factor: float) -> FrameOp:
    def op(frame: Frame, t: float) -> Frame:
        rgb = frame.astype(np.float32)
        grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        out = grey[..., None] + factor * (rgb - grey[..., None])
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return op


def gaussian_noise(sigma: float, seed: int = 7, bank: int = 16) -> FrameOp:
    """Fresh-looking grain per frame: one of `bank` pre-drawn fields, picked by the frame's time
    (drawing 0.8 M normals per 512 frame would double the attack's time)."""
    fields: dict[tuple[int, ...], np.ndarray] = {}

    def op(frame: Frame, t: float) -> Frame:
        if frame.shape not in fields:
            rng = np.random.default_rng(seed)
            fields[frame.shape] = np.round(
                rng.standard_normal((bank, *frame.shape), np.float32) * sigma).astype(np.int16)
        pick = int(np.random.default_rng((seed, round(t * 1000))).integers(bank))
        noisy = fields[frame.shape][pick] + frame
        return np.clip(noisy, 0, 255).astype(np.uint8)
    return op


CAPTIONS = ("and that is why we never", "stopped asking questions", "SUBSCRIBE for more",
            "this changed everything")


def caption_bar(height_share: float = 0.15, opacity: float = 0.75) -> FrameOp:
    """A dark bar over the bottom `height_share` of the frame with white text changing every 2 s."""
    def op(frame: Frame, t: float) -> Frame:
        out = frame.copy()
        height, width = frame.shape[:2]
        bar = max(8, round(height * height_share))
        region = out[height - bar:].astype(np.float32)
        out[height - bar:] = (region * (1 - opacity) + 16 * opacity).astype(np.uint8)
        text = CAPTIONS[int(t // 2) % len(CAPTIONS)]
        font_scale = bar / 60
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
        font_scale *= min(1.0, 0.92 * width / tw)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
        origin = ((width - tw) // 2, height - bar + (bar + th) // 2)
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255),
                    max(1, round(font_scale * 2)), cv2.LINE_AA)
        return out
    return op


def logo(area_share: float = 0.15) -> FrameOp:
    """An opaque coloured badge with text covering `area_share` of the frame, top-right corner."""
    def op(frame: Frame, t: float) -> Frame:
        out = frame.copy()
        height, width = frame.shape[:2]
        side_w, side_h = int(width * math.sqrt(area_share)), int(height * math.sqrt(area_share))
        x0, y0 = width - side_w - width // 40, height // 40
        badge = out[y0:y0 + side_h, x0:x0 + side_w]
        badge[:] = (230, 60, 40)
        cv2.circle(badge, (side_w // 2, side_h * 2 // 5), min(side_w, side_h) // 4,
                   (255, 210, 0), -1, cv2.LINE_AA)
        scale_ = side_w / 160
        cv2.putText(badge, "NEWS24", (side_w // 10, side_h * 9 // 10), cv2.FONT_HERSHEY_DUPLEX,
                    scale_, (255, 255, 255), max(1, int(scale_ * 2)), cv2.LINE_AA)
        return out
    return op


# --------------------------------------------------------------------------------------------
# Time operations: decide which source frames make the output, at which frame rate


@dataclass(frozen=True)
class Timed:
    """The output's frame rate and its frames, with where marked (source) content lies in it."""

    fps: Fraction
    frames: Iterator[Frame]
    marked_segments: tuple[tuple[float, float], ...]
    source_window: tuple[float, float]  # the part of the source used, in source seconds


TimeOp = Callable[[Path, VideoInfo], Timed]


def keep_timing(src: Path, info: VideoInfo) -> Timed:
    return Timed(info.fps, iter_frames(src), ((0.0, info.duration_s),), (0.0, info.duration_s))


def resample(fps: float) -> TimeOp:
    """Change the frame rate by time: each output frame is the source frame nearest to it."""
    def op(src: Path, info: VideoInfo) -> Timed:
        out_fps = Fraction(fps).limit_denominator(1001)
        return Timed(out_fps, _nearest(iter_frames(src), info.fps / out_fps),
                     ((0.0, info.duration_s),), (0.0, info.duration_s))
    return op


def _nearest(frames: Iterator[Frame], step: Fraction) -> Iterator[Frame]:
    """Output k shows source frame floor(k * step + 1/2), for every k whose source exists."""
    k = 0
    for index, frame in enumerate(frames):
        while math.floor(k * step + Fraction(1, 2)) == index:
            yield frame
            k += 1


def drop_every_other(src: Path, info: VideoInfo) -> Timed:
    frames = (f for i, f in enumerate(iter_frames(src)) if i % 2 == 0)
    return Timed(info.fps / 2, frames, ((0.0, info.duration_s),), (0.0, info.duration_s))


def excerpt(seconds: float) -> TimeOp:
    """`seconds` from the middle of the source (the whole source when it is shorter)."""
    def op(src: Path, info: VideoInfo) -> Timed:
        count = min(info.frames, round(seconds * info.fps))
        first = (info.frames - count) // 2
        frames = (f for i, f in enumerate(iter_frames(src)) if first <= i < first + count)
        start = float(first / info.fps)
        return Timed(info.fps, frames, ((0.0, float(count / info.fps)),),
                     (start, start + float(count / info.fps)))
    return op


INSERT_TOTAL_S = 12.0
INSERT_SEGMENT_S = 3.0
INSERT_AT_S = 4.6  # not on a whole second, so a detector that only checks 1 s windows is visible


def insert_into_host(total_s: float = INSERT_TOTAL_S, segment_s: float = INSERT_SEGMENT_S,
                     at_s: float = INSERT_AT_S, host_image: str = "rocket") -> TimeOp:
    """The middle `segment_s` of the source placed at `at_s` into an unmarked `total_s` clip of the
    same size and rate: a slow pan over another photo."""
    def op(src: Path, info: VideoInfo) -> Timed:
        count = min(info.frames, round(segment_s * info.fps))
        first = (info.frames - count) // 2
        at = round(at_s * info.fps)
        total = max(round(total_s * info.fps), at + count)
        host = iter_motion(load_image(host_image), total / info.fps, info.width, info.height,
                           float(info.fps), motion="pan", seed=3)

        def frames() -> Iterator[Frame]:
            source = (f for i, f in enumerate(iter_frames(src)) if first <= i < first + count)
            for index, host_frame in enumerate(host):
                yield next(source) if at <= index < at + count else host_frame
        start = float(at / info.fps)
        return Timed(info.fps, frames(), ((start, start + float(count / info.fps)),),
                     (float(first / info.fps), float((first + count) / info.fps)))
    return op


# --------------------------------------------------------------------------------------------
# Attacks


@dataclass(frozen=True)
class AttackOutput:
    """What an attack wrote, and what a detector should find there."""

    key: str
    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    # Where the marked source content lies in the output, in output seconds.
    marked_segments: tuple[tuple[float, float], ...]
    source_window: tuple[float, float]
    geometry: str  # the spatial change in words, with pixel boxes (for checking a detector's)


@dataclass(frozen=True)
class Attack:
    key: str
    label: str
    kind: str  # codec | resize | crop | pad | flip | colour | overlay | noise | time | combination
    ops: tuple[FrameOp, ...] = ()
    timing: TimeOp = keep_timing
    encode: Encode = PLATFORM
    requires: str | None = None  # an encoder that must exist
    geometry: Callable[[int, int], str] = field(default=lambda w, h: "none")

    @property
    def available(self) -> bool:
        return encoder_available(self.requires or self.encode.codec)

    def run(self, src: Path, dst: Path, platform: Encode | None = None) -> AttackOutput:
        """Apply to `src`, write `dst`; `platform` replaces the final H.264 CRF 23 medium encode
        of attacks that do not name their own (e.g. a veryfast one for quick runs)."""
        if not self.available:
            raise RuntimeError(f"attack {self.key}: encoder {self.requires} is not available")
        info = probe(src)
        timed = self.timing(src, info)
        encode = platform if platform is not None and self.encode == PLATFORM else self.encode
        writer = _Writer(Path(dst), timed.fps, encode)
        for index, frame in enumerate(timed.frames):
            t = float(index / timed.fps)
            for op in self.ops:
                frame = op(frame, t)
            writer.write(frame)
        writer.close()
        assert writer.size is not None
        return AttackOutput(
            key=self.key, path=Path(dst), width=writer.size[0], height=writer.size[1],
            fps=float(timed.fps), frames=writer.count,
            duration_s=float(writer.count / timed.fps), marked_segments=timed.marked_segments,
            source_window=timed.source_window, geometry=self.geometry(info.width, info.height))


def _crop_geometry(keep: float, anchor: tuple[float, float]) -> Callable[[int, int], str]:
    def describe(width: int, height: int) -> str:
        x, y, w, h = crop_box(width, height, keep, anchor)
        return f"crop x={x} y={y} w={w} h={h} of {width}x{height}"
    return describe


def _scale_geometry(factor: float) -> Callable[[int, int], str]:
    def describe(width: int, height: int) -> str:
        w, h = _even_size(width * factor, height * factor)
        return f"scale {width}x{height} -> {w}x{h}"
    return describe


def _pad_geometry(width: int, height: int) -> Callable[[int, int], str]:
    def describe(src_w: int, src_h: int) -> str:
        x, y, w, h = fit_box(src_w, src_h, width, height)
        return f"picture at x={x} y={y} w={w} h={h} in {width}x{height}"
    return describe


def _crop_scale_geometry(keep: float, factor: float) -> Callable[[int, int], str]:
    def describe(width: int, height: int) -> str:
        x, y, w, h = crop_box(width, height, keep)
        sw, sh = _even_size(w * factor, h * factor)
        return f"crop x={x} y={y} w={w} h={h} of {width}x{height}, scale to {sw}x{sh}"
    return describe


def _build() -> dict[str, Attack]:
    attacks: list[Attack] = []
    for crf in (23, 28, 32, 35):
        for preset in ("medium", "veryfast"):
            attacks.append(Attack(f"h264-crf{crf}-{preset}", f"H.264 CRF {crf} {preset}", "codec",
                                  encode=Encode("libx264", crf, preset)))
    attacks += [
        Attack("hevc-crf28", "HEVC (x265) CRF 28 veryfast", "codec",
               encode=Encode("libx265", 28, "veryfast")),
        Attack("vp9-400k", "VP9 400 kbit/s (realtime, cpu-used 6)", "codec",
               encode=Encode("libvpx-vp9", None, 6, bitrate=400_000)),
        Attack("av1-crf35", "AV1 (SVT) CRF 35 preset 11", "codec",
               encode=Encode("libsvtav1", 35, 11)),
    ]
    for factor in (0.5, 0.75, 1.5):
        attacks.append(Attack(f"scale-{factor:g}x", f"resize {factor:g}x", "resize",
                              ops=(scale(factor),), geometry=_scale_geometry(factor)))
    attacks.append(Attack("aspect-480x640", "stretch to 480x640 (w x h)", "resize",
                          ops=(resize_to(480, 640),),
                          geometry=lambda w, h: f"scale {w}x{h} -> 480x640"))
    off_centre = (0.15, 0.25)
    for share in (10, 20):
        keep = 1 - share / 100
        attacks.append(Attack(f"crop{share}-centre", f"crop {share} % of area, centred", "crop",
                              ops=(crop_area(keep),), geometry=_crop_geometry(keep, (0.5, 0.5))))
        attacks.append(Attack(f"crop{share}-offcentre", f"crop {share} % of area, near top-left",
                              "crop", ops=(crop_area(keep, off_centre),),
                              geometry=_crop_geometry(keep, off_centre)))
    attacks.append(Attack("crop10-crf28-0.75x", "crop 10 % + 0.75x + CRF 28", "combination",
                          ops=(crop_area(0.9), scale(0.75)), encode=Encode("libx264", 28),
                          geometry=_crop_scale_geometry(0.9, 0.75)))
    attacks += [
        Attack("letterbox-1080x1920", "fit + pad into 1080x1920 (9:16)", "pad",
               ops=(fit_pad(1080, 1920),), geometry=_pad_geometry(1080, 1920)),
        Attack("pillarbox-1920x1080", "fit + pad into 1920x1080 (16:9)", "pad",
               ops=(fit_pad(1920, 1080),), geometry=_pad_geometry(1920, 1080)),
        Attack("hflip", "horizontal flip", "flip", ops=(hflip,),
               geometry=lambda w, h: "horizontal flip"),
        Attack("rotate90", "rotate 90 deg clockwise", "flip", ops=(rotate90,),
               geometry=lambda w, h: f"rotate 90 cw -> {h}x{w}"),
        Attack("brightness+20", "brightness +20", "colour", ops=(brightness(20),)),
        Attack("brightness-20", "brightness -20", "colour", ops=(brightness(-20),)),
        Attack("contrast0.8", "contrast 0.8", "colour", ops=(contrast(0.8),)),
        Attack("contrast1.2", "contrast 1.2", "colour", ops=(contrast(1.2),)),
        Attack("saturation0.5", "saturation 0.5", "colour", ops=(saturation(0.5),)),
        Attack("gamma0.8", "gamma 0.8", "colour", ops=(gamma(0.8),)),
        Attack("caption", "caption bar (bottom 15 %)", "overlay", ops=(caption_bar(),)),
        Attack("logo", "logo badge (15 % of area, corner)", "overlay", ops=(logo(),)),
        Attack("noise3", "Gaussian noise sigma 3", "noise", ops=(gaussian_noise(3),)),
        Attack("fps24", "frame rate -> 24 fps", "time", timing=resample(24)),
        Attack("fps30", "frame rate -> 30 fps", "time", timing=resample(30)),
        Attack("drop-half", "every other frame dropped (fps halved)", "time",
               timing=drop_every_other),
        Attack("excerpt-2s", "2 s excerpt from the middle", "time", timing=excerpt(2.0)),
        Attack("insert-3s", f"3 s inserted at {INSERT_AT_S:g} s into a 12 s unmarked clip",
               "time", timing=insert_into_host()),
        Attack("combo-crop-scale-crf32-fps30-caption",
               "crop 10 % + 0.75x + CRF 32 + 30 fps + caption", "combination",
               ops=(crop_area(0.9), scale(0.75), caption_bar()), timing=resample(30),
               encode=Encode("libx264", 32), geometry=_crop_scale_geometry(0.9, 0.75)),
    ]
    return {attack.key: attack for attack in attacks}


ATTACKS: dict[str, Attack] = _build()


def available_attacks() -> dict[str, Attack]:
    """`ATTACKS` without those whose encoder this PyAV build lacks."""
    return {key: attack for key, attack in ATTACKS.items() if attack.available}


def apply_with_info(name: str, src: Path, dst: Path,
                    platform: Encode | None = None) -> AttackOutput:
    """Run attack `name` on the MP4 `src`, writing the MP4 `dst`; say what was written."""
    return ATTACKS[name].run(Path(src), Path(dst), platform)


def apply(name: str, src: Path, dst: Path, platform: Encode | None = None) -> Path:
    """Run attack `name` on the MP4 `src`, writing the MP4 `dst`."""
    return apply_with_info(name, src, dst, platform).path


# --------------------------------------------------------------------------------------------
# Source clips: moving video from a still


BUNDLED_IMAGES = ("astronaut", "coffee", "chelsea", "camera", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "retina", "colorwheel", "brick", "grass", "gravel",
                  "moon", "coins", "cell", "page", "text", "motorcycle")
FACE_FILES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "biden2.jpg")


@cache
def load_image(name: str) -> np.ndarray:
    """An RGB uint8 still: a skimage.data image shipped with scikit-image (no download) or a face
    fixture (`obama`, `biden2`, ...; public-domain portraits, square-cropped around the face)."""
    if f"{name}.jpg" in FACE_FILES:
        bgr = cv2.imread(str(FACES_DIR / f"{name}.jpg"))
        if bgr is None:
            raise FileNotFoundError(FACES_DIR / f"{name}.jpg")
        height, width = bgr.shape[:2]
        side = min(height, width)
        y = int((height - side) * 0.2)  # faces sit in the upper part of these portraits
        return np.ascontiguousarray(bgr[y:y + side, (width - side) // 2:][:, :side, ::-1])
    image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


def image_names() -> list[str]:
    """All stills `load_image` can give here (faces only when the fixtures are present)."""
    faces = [f[:-4] for f in FACE_FILES if (FACES_DIR / f).exists()]
    return [*BUNDLED_IMAGES, *faces]


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to the aspect of width x height, then resize to it."""
    ih, iw = image.shape[:2]
    ratio = max(width / iw, height / ih)
    cw, ch = min(iw, round(width / ratio)), min(ih, round(height / ratio))
    crop = image[(ih - ch) // 2:(ih - ch) // 2 + ch, (iw - cw) // 2:(iw - cw) // 2 + cw]
    return cv2.resize(crop, (width, height),
                      interpolation=cv2.INTER_AREA if cw > width else cv2.INTER_CUBIC)


def iter_motion(image: np.ndarray, seconds: float, width: int, height: int, fps: float = 25,
                motion: Motion = "talking", noise: float = 0.0, seed: int = 0) -> Iterator[Frame]:
    """Frames of a still brought to life (see `source_clip`), streamed, at any width x height."""
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * math.pi, 6)
    count = round(seconds * fps)
    if motion == "pan":
        margin = 1.3
        base = _cover(image, int(width * margin), int(height * margin))
        direction = rng.uniform(0, 2 * math.pi)
        speed = 0.03 * width  # px/s, bouncing inside the margin
        reach_x, reach_y = base.shape[1] - width, base.shape[0] - height
    else:
        base = _cover(image, width, height)
    mouth = _mouth_field(width, height) if motion == "talking" else None
    for i in range(count):
        t = i / fps
        if motion == "talking":
            matrix = cv2.getRotationMatrix2D(
                (width / 2, height * 0.45), 0.5 * math.sin(1.3 * t + phases[0]),
                1 + 0.012 * math.sin(0.9 * t + phases[1]))
            matrix[0, 2] += 4 * math.sin(0.7 * t + phases[2]) * width / 512
            matrix[1, 2] += 3 * math.sin(1.7 * t + phases[3]) * height / 512
            frame = cv2.warpAffine(base, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            assert mouth is not None
            grid_x, grid_y, bump = mouth
            opening = 6 * max(0.0, math.sin(2 * math.pi * 3.1 * t + phases[4])) * height / 512
            frame = cv2.remap(frame, grid_x, grid_y - opening * bump, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
        elif motion == "pan":
            x = _bounce(reach_x / 2 + speed * t * math.cos(direction), reach_x)
            y = _bounce(reach_y / 2 + speed * t * math.sin(direction), reach_y)
            matrix = np.float32([[1, 0, -x], [0, 1, -y]])
            frame = cv2.warpAffine(base, matrix, (width, height), flags=cv2.INTER_LINEAR)
        else:
            zoom = 1 + 0.12 * (0.5 - 0.5 * math.cos(2 * math.pi * t / 8 + phases[5]))
            centre = (width * (0.5 + 0.05 * math.sin(0.4 * t)), height * 0.5)
            matrix = cv2.getRotationMatrix2D(centre, 0.0, zoom)
            frame = cv2.warpAffine(base, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
        if noise:
            grain = np.random.default_rng((seed, i)).standard_normal(frame.shape, np.float32)
            grain *= noise
            grain += frame
            grain += 0.5
            frame = np.clip(grain, 0, 255, out=grain).astype(np.uint8)
        yield frame


def _bounce(value: float, reach: float) -> float:
    if reach <= 0:
        return 0.0
    period = 2 * reach
    value %= period
    return value if value <= reach else period - value


def _mouth_field(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel grids and a smooth bump below the centre that pushes rows apart: a mouth opening."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                 np.arange(height, dtype=np.float32))
    cx, cy = width * 0.5, height * 0.68
    sx, sy = width * 0.09, height * 0.05
    envelope = np.exp(-((grid_x - cx) / sx) ** 2 - ((grid_y - cy) / (2 * sy)) ** 2)
    bump = (envelope * np.tanh((grid_y - cy) / sy)).astype(np.float32)
    return grid_x, grid_y, bump


def source_clip(image: np.ndarray, seconds: float, size: int = 512, fps: int = 25,
                motion: Motion = "talking", noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB frames of `image` in motion.

    talking: the picture drifts (+-4 px, +-1.2 %, +-0.5 deg, slow, like a head on a still body)
    and a region below the centre opens and closes at ~3 Hz, like a mouth; pan: a window slides
    slowly (3 % of the width per second) over the photo scaled to 1.3x; zoom: 1.0-1.12x and back
    every 8 s. `noise` adds Gaussian grain of that sigma to every frame.
    """
    return np.stack(list(iter_motion(image, seconds, size, size, fps, motion, noise, seed)))


BENCHMARK_SOURCES: tuple[tuple[str, Motion], ...] = (
    ("astronaut", "talking"), ("obama", "talking"), ("coffee", "pan"), ("chelsea", "zoom"),
    ("biden2", "talking"), ("rocket", "pan"), ("obama2", "zoom"), ("immunohistochemistry", "pan"),
)


def benchmark_sources(count: int, seconds: float, size: int = 512, fps: int = 25,
                      ) -> Iterator[tuple[str, np.ndarray]]:
    """`count` different (name, frames) source clips: portraits talking, photos panned / zoomed."""
    available = set(image_names())
    picks = [(image, motion) for image, motion in BENCHMARK_SOURCES if image in available]
    for index in range(count):
        image, motion = picks[index % len(picks)]
        seed = index // len(picks)
        noise = 2.0 if index % 2 else 0.0
        yield (f"{image}-{motion}" + (f"-s{seed}" if seed else ""),
               source_clip(load_image(image), seconds, size, fps, motion, noise, seed))


# --------------------------------------------------------------------------------------------
# Unmarked corpus for false-positive counts


def unmarked_clips(count: int, seconds: float = 4.0, size: int = 512, fps: int = 25,
                   seed: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """`count` varied unmarked (name, frames) clips: every available still, talking / pan / zoom,
    a random sub-crop of the photo (50-100 % of its area), sometimes mirrored, some with grain.
    Deterministic for a given seed; names say what each clip is."""
    names = image_names()
    motions: tuple[Motion, ...] = ("talking", "pan", "zoom")
    rng = np.random.default_rng(seed)
    for index in range(count):
        name = names[index % len(names)]
        motion = motions[(index // len(names) + index) % len(motions)]
        image = load_image(name)
        height, width = image.shape[:2]
        keep = float(rng.uniform(0.5, 1.0))
        ch, cw = int(height * math.sqrt(keep)), int(width * math.sqrt(keep))
        y, x = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
        image = image[y:y + ch, x:x + cw]
        mirrored = bool(rng.random() < 0.3)
        if mirrored:
            image = image[:, ::-1]
        noise = float(rng.choice([0.0, 0.0, 1.5, 3.0]))
        frames = source_clip(np.ascontiguousarray(image), seconds, size, fps, motion, noise,
                             seed=int(rng.integers(1 << 30)))
        yield (f"{index:04d}-{name}-{motion}-crop{keep:.2f}" + ("-mirror" if mirrored else "")
               + (f"-noise{noise:g}" if noise else "")), frames
