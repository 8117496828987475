"""Lip-sync check: how far a talking head's sound is ahead of or behind its mouth.

The mouth's opening per frame (dlib's 68-point landmarks: the gaps between the inner lips,
points 61-63 against 67-65, over the distance between the outer eye corners, which does not
move when the jaw drops) is correlated with the speech's loudness (RMS over one frame) sampled
at the frame times shifted by each lag from -300 to +300 ms in 20 ms steps (half a frame at
25 fps); the lag of the highest Pearson correlation is the offset. A positive offset means the
sound comes after the mouth movement that makes it: moving the audio earlier by that much
corrects it.

The confidence is how far the peak correlation stands above the median over all lags, as a
share of the most it could (1 - median), from 0 to 1; SyncNet's is likewise the median distance
less the minimum. A clip whose mouth follows its sound has one clear peak; an unrelated pair
has a flat, low curve. "No face" and "no speech" are answers, not numbers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import InputError, ModelsMissing, NotAvailable

LAG_LIMIT_MS = 300
LAG_STEP_MS = 20
MIN_SECONDS = 1.0  # a few syllables: fewer cannot pin a lag down
MAX_SECONDS = 120.0  # longer videos are measured on their first two minutes
MIN_FACE_SHARE = 0.5  # below this share of frames with a face, the answer is "no face"
DETECT_EVERY = 5  # frames between face detections; the landmarks follow the last box between
ANALYSIS_SHORT_SIDE = 512  # a talking head's face is large; smaller frames detect faster
SILENCE_RMS = 1e-3  # about -60 dBFS over a frame: nothing said
# A measurement is reliable when its peak is this high and this clear of the rest of the curve.
# Measured on 5 s clips (tests/talking_video.py): a mouth that follows its sound peaks at r 0.99,
# confidence 0.99 (at -160, 0, +80, +200 ms); a mouth that follows another clip's syllables at
# r 0.16-0.37, confidence 0.16-0.35 (4 pairs). Real speech and real models give lower peaks.
MIN_CORRELATION = 0.5
MIN_CONFIDENCE = 0.4
SHAPE_MODEL_68 = "shape_predictor_68_face_landmarks.dat"

Status = Literal["measured", "no_face", "no_speech"]


@dataclass(frozen=True)
class SyncCheck:
    """One video's audio/video offset, or why there is none."""

    status: Status
    message: str
    offset_ms: int | None = None  # positive: the sound is late
    correlation: float | None = None  # Pearson r at the offset
    confidence: float | None = None  # 0-1: (peak r - median r over all lags) / (1 - median)
    reliable: bool = False
    frames: int = 0
    face_frames: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any]:
    """dlib's face detector and 68-point shape predictor, loaded once per process (1.6 s)."""
    from .identity.dlib_backend import dlib_models_dir
    try:
        import dlib
    except ImportError:
        raise NotAvailable("dlib is not installed; the lip-sync check needs it",
                           hint="install the identity extra: pip install dlib-bin") from None
    model = dlib_models_dir() / SHAPE_MODEL_68
    if not model.is_file():
        raise ModelsMissing(f"dlib's 68-point landmark model is missing: {model}",
                            hint="reinstall face_recognition_models")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


def require_landmarks() -> None:
    """Raise NotAvailable or ModelsMissing now if the check could not run later."""
    _dlib_models()


_DLIB_LOCK = threading.Lock()  # dlib does not promise that its models can run concurrently


class MouthTracker:
    """Mouth openings of one video's frames as they pass, from dlib's 68-point landmarks; the
    face is detected every DETECT_EVERY frames and followed in between."""

    def __init__(self) -> None:
        self._detector, self._shapes = _dlib_models()
        self._box: Any = None
        self.times: list[float] = []
        self.openings: list[float] = []  # NaN where no face was found

    def add(self, seconds: float, rgb: np.ndarray) -> None:
        opening = self._opening(np.ascontiguousarray(rgb))
        self.times.append(seconds)
        self.openings.append(np.nan if opening is None else opening)

    def _opening(self, rgb: np.ndarray) -> float | None:
        """Inner-lip gap over eye-corner distance, or None when no face is found."""
        with _DLIB_LOCK:
            if self._box is None or len(self.times) % DETECT_EVERY == 0:
                found = self._detector(rgb, 0)
                self._box = max(found, key=lambda r: r.area()) if len(found) else None
            if self._box is None:
                return None
            shape = self._shapes(rgb, self._box)
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], float)
        eyes = float(np.linalg.norm(points[36] - points[45]))
        if eyes < 1:
            return None
        gaps = np.linalg.norm(points[[61, 62, 63]] - points[[67, 66, 65]], axis=1)
        return float(gaps.mean()) / eyes

    def check(self, samples: np.ndarray, rate: int, audio_start_s: float = 0.0) -> SyncCheck:
        """The offset between the frames added so far and the speech `samples` (whose first
        sample is at `audio_start_s` on the frames' clock)."""
        mouth, at = np.array(self.openings), np.array(self.times)
        seen = int(np.isfinite(mouth).sum())
        span = float(at[-1] - at[0]) if len(at) > 1 else 0.0
        frame_s = span / (len(at) - 1) if len(at) > 1 else 0.04
        counts = dict(frames=len(at), face_frames=seen, seconds=round(span + frame_s, 3))
        if span + frame_s < MIN_SECONDS:
            raise InputError("file", f"the video is {span + frame_s:.2f} s long; at least "
                                     f"{MIN_SECONDS:g} s is needed to measure lip sync")
        if seen < MIN_FACE_SHARE * len(at):
            return SyncCheck("no_face", f"no face found in {len(at) - seen} of {len(at)} "
                                        "frames; lip sync is measured on a face seen from the "
                                        "front", **counts)
        loudness = Loudness(samples, rate, audio_start_s, frame_s)
        if float(loudness.at(at).max(initial=0.0)) < SILENCE_RMS:
            return SyncCheck("no_speech", "the sound is silent while the face is shown",
                             **counts)
        return _best_lag(mouth, at, loudness, counts)


class Loudness:
    """RMS of a clip (whose first sample is at `start_s`) over `window_s` centred on given
    times, silence outside it. The running energy is summed once, so each of the 31 lags
    costs two lookups per frame rather than a pass over the whole clip."""

    def __init__(self, samples: np.ndarray, rate: int, start_s: float, window_s: float) -> None:
        self._energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
        self._rate, self._start_s, self._window_s = rate, start_s, window_s

    def at(self, times: np.ndarray) -> np.ndarray:
        half, count = self._window_s / 2, len(self._energy) - 1
        low = np.clip(np.round((times - half - self._start_s) * self._rate), 0, count)
        high = np.clip(np.round((times + half - self._start_s) * self._rate), 0, count)
        width = max(1, round(self._window_s * self._rate))
        return np.sqrt((self._energy[high.astype(int)] - self._energy[low.astype(int)]) / width)


def measure(frames: Iterable[tuple[float, np.ndarray]], samples: np.ndarray, rate: int,
            audio_start_s: float = 0.0) -> SyncCheck:
    """The offset between `frames` ((seconds, RGB) in order) and the speech `samples`."""
    tracker = MouthTracker()
    for seconds, rgb in frames:
        tracker.add(seconds, rgb)
    return tracker.check(samples, rate, audio_start_s)


def _best_lag(mouth: np.ndarray, at: np.ndarray, loudness: Loudness,
              counts: dict[str, Any]) -> SyncCheck:
    face = np.isfinite(mouth)
    lags = np.arange(-LAG_LIMIT_MS, LAG_LIMIT_MS + 1, LAG_STEP_MS)
    scores = np.array([_pearson(mouth[face], loudness.at(at[face] + lag / 1000))
                       for lag in lags])
    best = int(np.argmax(scores))
    peak, median = float(scores[best]), float(np.median(scores))
    confidence = (peak - median) / (1 - median) if median < 1 else 0.0
    reliable = peak >= MIN_CORRELATION and confidence >= MIN_CONFIDENCE
    offset = int(lags[best])
    direction = ("in sync" if offset == 0 else
                 f"the sound is {abs(offset)} ms {'late' if offset > 0 else 'early'}")
    message = (f"{direction} (correlation {peak:.2f}, confidence {confidence:.2f})"
               if reliable else
               f"no clear offset: the mouth barely follows the sound (best {offset:+d} ms, "
               f"correlation {peak:.2f}, confidence {confidence:.2f})")
    return SyncCheck("measured", message, offset, round(peak, 3), round(confidence, 3),
                     reliable, **counts)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / scale if scale > 0 else 0.0


def check_video(path: Path) -> SyncCheck:
    """The lip-sync offset of a talking-head video file (its first two minutes)."""
    import av

    from .media.audio import decode_mono_timed
    from .provenance.video_frames import iter_frames

    path = Path(path)
    if not path.is_file():
        raise InputError("file", f"file not found: {path}")
    try:
        with av.open(str(path)) as container:
            has_video, has_audio = bool(container.streams.video), bool(container.streams.audio)
    except av.FFmpegError as exc:
        raise InputError("file", f"{path.name} cannot be read as a video: {exc}") from None
    if not has_video:
        raise InputError("file", f"{path.name} has no video stream")
    if not has_audio:
        return SyncCheck("no_speech", "the video has no sound track")
    samples, rate, start = decode_mono_timed(path)
    if float(np.abs(samples).max(initial=0.0)) < SILENCE_RMS:
        return SyncCheck("no_speech", "the sound track is silent")
    require_landmarks()  # before decoding: a missing model is said at once
    return measure(iter_frames(path, short_side=ANALYSIS_SHORT_SIDE, until_s=MAX_SECONDS),
                   samples, rate, start)


class AutoCorrection:
    """`lip_sync=auto`: the finished frames' offset, measured as they stream to the encoder,
    and how far the muxed sound is moved by it (only when reliable and over one frame)."""

    def __init__(self, speech: Path, segment: tuple[float, float] | None, fps: float) -> None:
        self.tracker = MouthTracker()
        self._speech, self._segment, self._fps = speech, segment, fps
        self.check: SyncCheck | None = None
        self.not_measured = ""
        self.advanced_ms = 0

    def observing(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The (k, H, W, 3) uint8 chunks unchanged, each frame's mouth measured on the way."""
        from PIL import Image

        index = 0
        for chunk in chunks:
            for frame in chunk:
                shortest = min(frame.shape[:2])
                if shortest > ANALYSIS_SHORT_SIDE:
                    scale = ANALYSIS_SHORT_SIDE / shortest
                    frame = np.asarray(Image.fromarray(frame).resize(
                        (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
                        Image.Resampling.BILINEAR))
                self.tracker.add(index / self._fps, frame)
                index += 1
            yield chunk

    def sound_advance_ms(self) -> int:
        """Once every frame has passed: how much earlier the muxed sound goes (negative:
        later), from the offset of the frames against the speech they will carry."""
        from .media.audio import decode_mono_timed

        samples, rate, _ = decode_mono_timed(self._speech)
        if self._segment is not None:
            samples = samples[round(self._segment[0] * rate):round(self._segment[1] * rate)]
        try:
            self.check = self.tracker.check(samples, rate)
        except InputError as exc:
            self.not_measured = exc.problem
            return 0
        frame_ms = 1000 / self._fps
        if (self.check.status == "measured" and self.check.reliable
                and abs(self.check.offset_ms or 0) > frame_ms):
            self.advanced_ms = int(self.check.offset_ms or 0)
        return self.advanced_ms

    def record(self) -> dict[str, Any]:
        """What the manifest says of the check and the correction."""
        measured = self.check.to_dict() if self.check else {"status": "not_measured",
                                                           "message": self.not_measured}
        return {"mode": "auto", "measured": measured, "sound_advanced_ms": self.advanced_ms}

