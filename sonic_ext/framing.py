"""Where the face lands in the video: Sonic's crop and resize, without torch.

The consent gate and the pipeline both call `condition_on`, so the gate checks the very pixels
the model is conditioned on (the square crop around the animated face, resized to the generation
size with LANCZOS), and any face that will be visible in the video is seen by the gate.
The geometry follows the official Sonic helpers in order, so Python's `round` ties land on the
same pixel and the golden fixtures reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIZE_MULTIPLE = 64

Box = tuple[int, int, int, int]  # x, y, width, height


def square_crop_box(box_xyxy: Sequence[float], expand_ratio: float,
                    height: int, width: int) -> tuple[int, int, int, int]:
    """Square crop [x1, y1, x2, y2] around a face box, for portraits where the face is small.

    The box grows by `expand_ratio` times its width/height on every side (clamped to the image);
    the square has the expanded box's short side, sits on its centre and slides toward the face
    centre by at most half the side difference. The float operations follow the official helper
    in order, so the Python `round` ties land on the same pixel.
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    bw, bh = x2 - x1, y2 - y1
    ex1, ey1 = max(x1 - expand_ratio * bw, 0), max(y1 - expand_ratio * bh, 0)
    ex2, ey2 = min(x2 + expand_ratio * bw, width), min(y2 + expand_ratio * bh, height)

    eh, ew = ey2 - ey1, ex2 - ex1
    half = min(eh, ew) / 2
    shift_x = shift_y = 0.0
    slack = abs((eh - ew) / 2)
    if ew < eh:
        face_cy, box_cy = (y1 + y2) / 2, (ey1 + ey2) / 2
        shift_y = min(slack, abs(face_cy - box_cy)) * (1 if face_cy > box_cy else -1)
    else:
        face_cx, box_cx = (x1 + x2) / 2, (ex1 + ex2) / 2
        shift_x = min(slack, abs(face_cx - box_cx)) * (1 if face_cx > box_cx else -1)
    cx = (ex1 + ex2) / 2 + shift_x
    cy = (ey1 + ey2) / 2 + shift_y

    sx1, sy1, sx2, sy2 = cx - half, cy - half, cx + half, cy + half
    side = min(sx2 - sx1, sy2 - sy1)
    mx, my = (sx1 + sx2) / 2, (sy1 + sy2) / 2
    return (round(mx - side / 2), round(my - side / 2), round(mx + side / 2), round(my + side / 2))


def generation_size(width: int, height: int, min_resolution: int) -> tuple[int, int]:
    """(W, H) the video is generated at, both multiples of 64 (the official rule): scale so the
    short side is `min_resolution`, then round each side to the nearest multiple of 64 (Python
    `round`, ties to even)."""
    scale = min_resolution / min(width, height)
    return (round(width * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE,
            round(height * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def kept_size(width: int, height: int) -> tuple[int, int]:
    """The size `keep_resolution` writes: the portrait's own, rounded down to even (H.264 4:2:0
    needs even sides), as the official `ffmpeg -s` does."""
    return width // 2 * 2, height // 2 * 2


@dataclass(frozen=True)
class Framing:
    """The generation parameters that decide which pixels the model sees, and how large
    (`GenerationParams.framing()`: declared and defaulted there)."""

    crop: bool
    expand_ratio: float
    min_resolution: int


@dataclass(frozen=True, eq=False)
class Conditioning:
    """The image the model is conditioned on, and how it maps back onto the portrait.

    `region` is the part of the portrait it shows (x0, y0, x1, y1); a pixel (u, v) of `rgb`
    is the portrait's (x0 + u / zoom_x, y0 + v / zoom_y). keep_resolution only rescales the
    finished frames, so these pixels bound what the video can show of anyone.
    """

    rgb: np.ndarray
    region: tuple[int, int, int, int]

    @property
    def zoom(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.region
        return self.rgb.shape[1] / (x1 - x0), self.rgb.shape[0] / (y1 - y0)

    def to_portrait(self, box: Box) -> tuple[float, float, float, float]:
        """A box in `rgb` as a box (x, y, w, h) in portrait pixels."""
        zx, zy = self.zoom
        x, y, w, h = box
        return self.region[0] + x / zx, self.region[1] + y / zy, w / zx, h / zy

    def visible_px(self, box: Sequence[float]) -> int:
        """Short side, in these pixels, of the part of a portrait box the model sees (0 when
        none): a face cut by the crop still shows that much of itself."""
        x, y, w, h = box
        x0, y0, x1, y1 = self.region
        zx, zy = self.zoom
        width = max(0.0, min(x + w, x1) - max(x, x0)) * zx
        height = max(0.0, min(y + h, y1) - max(y, y0)) * zy
        return round(min(width, height))


def crop_region(face_box_xywh: Sequence[float], expand_ratio: float, width: int,
                height: int) -> tuple[int, int, int, int]:
    """Sonic's square crop around a face, clamped to the portrait (PIL crops pad outside)."""
    x, y, w, h = face_box_xywh
    return square_crop_box([x, y, x + w, y + h], expand_ratio, height, width)


def condition_on(image: Image.Image, face_box_xywh: Sequence[float], framing: Framing
                 ) -> tuple[Image.Image, list[float]]:
    """The portrait as the pipeline takes it: cropped around the face (when `framing.crop`),
    with the same face's box in the cropped image's pixels."""
    if not framing.crop:
        return image, [float(v) for v in face_box_xywh]
    left, top, right, bottom = crop_region(face_box_xywh, framing.expand_ratio, image.width,
                                           image.height)
    x, y, w, h = face_box_xywh
    return image.crop((left, top, right, bottom)), [x - left, y - top, w, h]


def conditioning(image: Image.Image, face_box_xywh: Sequence[float], framing: Framing
                 ) -> Conditioning:
    """The pixels the model is conditioned on: `condition_on`, resized to the generation size
    exactly as `sonic.preprocess.prepare_image` resizes them."""
    cropped, box = condition_on(image, face_box_xywh, framing)
    left, top = round(face_box_xywh[0] - box[0]), round(face_box_xywh[1] - box[1])
    cropped = cropped.convert("RGB")
    size = generation_size(*cropped.size, framing.min_resolution)
    resized = cropped.resize(size, Image.LANCZOS) if size != cropped.size else cropped
    return Conditioning(np.asarray(resized),
                        (left, top, left + cropped.width, top + cropped.height))
