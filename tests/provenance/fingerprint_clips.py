"""Talking-head-like clips and what platforms and forgers do to them, for the fingerprint tests.

A clip is a public-domain portrait (tests/fixtures/faces) cropped around the face the way Sonic
crops it, then animated: the mouth opens and closes, the eyes blink, the head moves against the
background, the camera drifts. Forgeries paste another portrait's face over the animated one
before animating, which is a perfectly tracked face replacement.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageEnhance

from sonic_ext.contracts import GenerationParams
from sonic_ext.framing import condition_on

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
# dlib's face boxes (x, y, w, h) in these portraits, as the consent gate finds them.
BOXES = {"obama.jpg": (365, 137, 257, 257), "obama2.jpg": (164, 301, 309, 309),
         "biden2.jpg": (434, 286, 444, 444), "collins.jpg": (179, 84, 87, 86)}
FPS = 25

Box = tuple[float, float, float, float]


def portrait_crop(name: str, size: int = 512) -> tuple[np.ndarray, Box]:
    """The portrait as the video frame shows it (Sonic's crop, resized) and the face box there."""
    image = Image.open(FACES / name).convert("RGB")
    cropped, box = condition_on(image, BOXES[name], GenerationParams().framing())
    sx, sy = size / cropped.width, size / cropped.height
    frame = np.asarray(cropped.resize((size, size), Image.LANCZOS))
    return frame, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def animate(base: np.ndarray, box: Box, count: int) -> np.ndarray:
    """`count` frames of a talking head: mouth, blinks, head motion, camera drift."""
    size = base.shape[0]
    x, y, w, h = box
    mouth_x, mouth_y, eyes_y = x + w / 2, y + 0.78 * h, y + 0.38 * h
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    mouth = np.exp(-(((xx - mouth_x) / (0.22 * w)) ** 2 + ((yy - mouth_y) / (0.12 * h)) ** 2))
    eyes = np.exp(-(((np.abs(xx - mouth_x) - 0.2 * w) / (0.1 * w)) ** 2
                    + ((yy - eyes_y) / (0.05 * h)) ** 2))
    head = np.exp(-(((xx - mouth_x) / (0.9 * w)) ** 2 + ((yy - (y + h / 2)) / h) ** 2))
    frames = []
    for i in range(count):
        t = i / FPS
        opening = 0.10 * h * max(0.0, math.sin(2 * math.pi * 2.3 * t))
        blink = 0.04 * h if i % 60 < 4 else 0.0
        head_x, head_y = 0.05 * w * math.sin(0.9 * t), 0.04 * h * math.sin(1.3 * t + 1)
        map_y = (yy - opening * mouth * np.sign(yy - mouth_y)
                 + blink * eyes * np.sign(yy - eyes_y) - head_y * head)
        moved = cv2.remap(base, xx - head_x * head, map_y.astype(np.float32), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        drift = cv2.getRotationMatrix2D((size / 2, size / 2), 1.5 * math.sin(1.1 * t),
                                        1 + 0.01 * math.sin(0.9 * t))
        drift[:, 2] += (3 * math.sin(0.8 * t), 2 * math.cos(0.7 * t))
        frames.append(cv2.warpAffine(moved, drift, (size, size), borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def paste_face(base: np.ndarray, box: Box, donor: str) -> np.ndarray:
    """`base` with `donor`'s face blended over the face in `box`, its tones matched."""
    source = np.asarray(Image.open(FACES / donor).convert("RGB"))
    dx, dy, dw, dh = BOXES[donor]
    source = source[int(dy - 0.1 * dh):int(dy + 1.1 * dh), int(dx - 0.1 * dw):int(dx + 1.1 * dw)]
    x, y, w, h = box
    left, top, width, height = int(x - 0.1 * w), int(y - 0.1 * h), int(1.2 * w), int(1.2 * h)
    face = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    target = base[top:top + height, left:left + width].astype(np.float32)
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (width // 2, height // 2), (int(width * 0.42), int(height * 0.48)), 0, 0,
                360, 1, -1)
    inside = mask > 0.5
    face = ((face - face[inside].mean(0)) / (face[inside].std(0) + 1e-6)
            * target[inside].std(0) + target[inside].mean(0))
    mask = cv2.GaussianBlur(mask, (0, 0), width * 0.04)[..., None]
    out = base.copy()
    out[top:top + height, left:left + width] = np.clip(target * (1 - mask) + face * mask, 0,
                                                      255).astype(np.uint8)
    return out


# -- what platforms do to a video (on decoded RGB frames) ------------------------------------

def brightness(frames: np.ndarray, delta: int) -> np.ndarray:
    return np.clip(frames.astype(np.int16) + delta, 0, 255).astype(np.uint8)


def contrast(frames: np.ndarray, factor: float) -> np.ndarray:
    return np.clip((frames.astype(np.float32) - 128) * factor + 128, 0, 255).astype(np.uint8)


def gamma(frames: np.ndarray, value: float) -> np.ndarray:
    return (255 * (frames / 255.0) ** value).astype(np.uint8)


def saturation(frames: np.ndarray, factor: float) -> np.ndarray:
    return np.stack([np.asarray(ImageEnhance.Color(Image.fromarray(f)).enhance(factor))
                     for f in frames])


def noise(frames: np.ndarray, sigma: float) -> np.ndarray:
    jitter = np.random.default_rng(1).normal(0, sigma, frames.shape)
    return np.clip(frames + jitter, 0, 255).astype(np.uint8)


def caption(frames: np.ndarray, share: float = 0.15) -> np.ndarray:
    """A dark caption bar with white text over the bottom `share` of the frame."""
    out = frames.copy()
    height, width = frames.shape[1:3]
    top = int(height * (1 - share))
    out[:, top:] = (out[:, top:] * 0.15).astype(np.uint8)
    for frame in out:
        cv2.putText(frame, "BREAKING: talks", (int(width * 0.05), int(height * 0.95)),
                    cv2.FONT_HERSHEY_SIMPLEX, height / 512 * 1.2, (255, 255, 255), 2)
    return out


def logo(frames: np.ndarray, share: float = 0.15) -> np.ndarray:
    """An opaque logo covering `share` of the frame in the lower right corner."""
    out = frames.copy()
    height, width = frames.shape[1:3]
    side = int(math.sqrt(share * height * width))
    patch = np.full((side, side, 3), (230, 40, 40), np.uint8)
    cv2.circle(patch, (side // 2, side // 2), side // 3, (255, 255, 255), -1)
    out[:, height - side:, width - side:] = patch
    return out


def shift(frames: np.ndarray, dx: int, dy: int) -> np.ndarray:
    height, width = frames.shape[1:3]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return np.stack([cv2.warpAffine(f, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
                     for f in frames])


def rescale(frames: np.ndarray, factor: float) -> np.ndarray:
    height, width = frames.shape[1:3]
    size = (int(width * factor) // 2 * 2, int(height * factor) // 2 * 2)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])
