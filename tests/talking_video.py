"""Talking-head videos with a known audio/video offset, for the lip-sync check.

A real portrait (obama.jpg) whose mouth opens frame by frame with the loudness of a speech-like
clip: below the line between the lips, the lower lip and chin move down by up to a tenth of the
face's height across the mouth's width (fading out below the chin), and the gap between the
lips is filled with the mouth's dark interior, so dlib's landmarks see a mouth opening as wide as
the sound is loud. The clip's syllables have random lengths, gaps and stresses (seeded), so the
correlation has one peak and no period that would repeat it. The sound is then moved against the
frames by the offset asked for (silence added or speech cut at the start) and muxed as AAC by
our own encoder, as a generation's output is.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates

from sonic_ext.media.encode import write_mp4

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
RATE = 16000
FPS = 25
SIZE = 512
# obama.jpg's face box (dlib, 258 px) with room for the shoulders: the face fills half the frame
CROP = (236, 36, 754, 604)


def speech_like(seconds: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(samples, loudness envelope) at RATE: a voiced tone in syllables of random timing."""
    rng = np.random.default_rng(seed)
    count = int(seconds * RATE)
    envelope = np.zeros(count, np.float32)
    t = 0.15
    while t < seconds - 0.2:
        length = rng.uniform(0.08, 0.28)
        first, end = int(t * RATE), int(min(t + length, seconds) * RATE)
        envelope[first:end] = rng.uniform(0.4, 1.0) * np.sin(
            np.linspace(0, np.pi, end - first)) ** 0.7
        t += length + rng.uniform(0.04, 0.35) + (rng.uniform(0.2, 0.5) if rng.random() < 0.15
                                                 else 0.0)
    times = np.arange(count) / RATE
    phase = 2 * np.pi * np.cumsum(130 + 25 * np.sin(2 * np.pi * 0.6 * times)) / RATE
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4)) / 2.1
    return (0.3 * voice * envelope).astype(np.float32), envelope


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


class MouthWarp:
    """obama.jpg at SIZE px whose mouth opens by a given amount (0 closed as photographed, 1 as
    wide as the warp goes)."""

    def __init__(self) -> None:
        import dlib

        from sonic_ext.identity.dlib_backend import dlib_models_dir
        from sonic_ext.lip_sync import SHAPE_MODEL_68

        portrait = Image.open(FACES / "obama.jpg").convert("RGB").crop(CROP)
        self.image = np.asarray(portrait.resize((SIZE, SIZE), Image.Resampling.LANCZOS),
                                dtype=np.float32)
        rgb = self.image.astype(np.uint8)
        [box] = dlib.get_frontal_face_detector()(rgb, 0)
        shape = dlib.shape_predictor(str(dlib_models_dir() / SHAPE_MODEL_68))(rgb, box)
        points = np.array([(p.x, p.y) for p in shape.parts()], float)
        face = float(box.height())
        self.lips_y = (points[[61, 62, 63], 1].mean() + points[[65, 66, 67], 1].mean()) / 2
        left, right = points[48, 0], points[54, 0]
        self.ys, self.xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        across = np.clip(1 - ((self.xs - (left + right) / 2) / ((right - left) * 0.575)) ** 2,
                         0, 1)
        self.widest = 0.10 * face * across  # the gap at full opening, per column
        # below the lips the shift holds to the chin, then fades out over a third of the face
        fade_end = points[8, 1] + 0.35 * face
        self.fade = np.clip((fade_end - self.ys) / (fade_end - self.lips_y), 0, 1)
        self.below = self.ys > self.lips_y

    def frame(self, opening: float) -> np.ndarray:
        gap = opening * self.widest
        shift = np.where(self.below, gap * self.fade, 0)
        out = np.stack([map_coordinates(self.image[..., c], [self.ys - shift, self.xs],
                                        order=1, mode="nearest") for c in range(3)], axis=-1)
        inside = self.below & (self.ys < self.lips_y + gap)
        out[inside] = out[inside] * 0.25 + np.array([60.0, 25.0, 30.0]) * 0.75
        return out.clip(0, 255).astype(np.uint8)


def talking_parts(folder: Path, offset_ms: int, seconds: float = 6.0, seed: int = 7,
                  mouth_seed: int | None = None, warp: MouthWarp | None = None
                  ) -> tuple[list[np.ndarray], Path]:
    """The frames (one (1, H, W, 3) chunk each) and a WAV in `folder` whose sound is
    `offset_ms` later (negative: earlier) than the mouth that says it. With `mouth_seed`, the
    mouth follows another clip's loudness than the one heard."""
    warp = warp or MouthWarp()
    samples, envelope = speech_like(seconds, seed)
    if mouth_seed is not None:
        envelope = speech_like(seconds, mouth_seed)[1]
    step = RATE // FPS  # each frame shows the loudness of the frame's time +- half a frame
    centred = np.concatenate([np.zeros(step // 2, np.float32), envelope])
    per_frame = centred[:int(seconds * FPS) * step].reshape(-1, step).mean(1)
    per_frame = per_frame / per_frame.max()
    shift = round(offset_ms * RATE / 1000)
    heard = (np.concatenate([np.zeros(shift, np.float32), samples])[:len(samples)] if shift >= 0
             else np.concatenate([samples[-shift:], np.zeros(-shift, np.float32)]))
    sound = write_wav(folder / f"speech{offset_ms:+d}-{seed}.wav", heard)
    return [warp.frame(float(level))[None] for level in per_frame], sound


def talking_video(out: Path, offset_ms: int, seconds: float = 6.0, seed: int = 7,
                  mouth_seed: int | None = None, warp: MouthWarp | None = None) -> Path:
    """An MP4 of `talking_parts`, muxed by our own encoder as a generation's output is."""
    frames, sound = talking_parts(out.parent, offset_ms, seconds, seed, mouth_seed, warp)
    write_mp4(frames, out, fps=FPS, audio=sound)
    sound.unlink()
    return out
