"""Portrait preprocessing: optional square face crop, resize, face mask, VAE and CLIP inputs.

Matches the official Sonic preprocessing numerically (PIL LANCZOS, torchvision-style ToTensor,
default `CLIPImageProcessor`), so the tiny-weight golden fixtures reproduce bit-exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers import CLIPImageProcessor

from ..framing import generation_size, kept_size, square_crop_box

CLIP_SQUASH_SIZE = 224


@dataclass(frozen=True)
class PreparedImage:
    """The tensors the pipeline needs from the portrait, all (1, 3, ·, ·) float32 on the CPU."""

    ref_img: torch.Tensor  # (1,3,H,W) in [-1,1]: VAE input
    face_mask: torch.Tensor  # (1,3,H,W) in [0,1]: 3 equal channels, channel 0 is used
    clip_pixel_values: torch.Tensor  # (1,3,224,224): CLIP image-encoder input

    @property
    def height(self) -> int:
        return int(self.ref_img.shape[-2])

    @property
    def width(self) -> int:
        return int(self.ref_img.shape[-1])

    def to(self, device: torch.device | str, dtype: torch.dtype) -> PreparedImage:
        """Move every tensor at once; preprocessing itself always runs on the CPU in float32."""
        return PreparedImage(*(t.to(device=device, dtype=dtype) for t in
                               (self.ref_img, self.face_mask, self.clip_pixel_values)))


def rescale_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(k, 3, H, W) frames in [0, 1] to `size` (W, H): bicubic like ffmpeg's default scaler,
    antialiased when shrinking."""
    if (frames.shape[-1], frames.shape[-2]) == size:
        return frames
    width, height = size
    resized = torch.nn.functional.interpolate(frames.float(), size=(height, width), mode="bicubic",
                                              align_corners=False, antialias=True)
    return resized.clamp(0, 1).to(frames.dtype)


def face_mask_image(size: tuple[int, int], box_xywh: Sequence[float], area: float) -> Image.Image:
    """RGB image of `size` (W, H): 255 inside the face box scaled by `area` about its centre.

    The centre and half-sizes are floor-divided and the corners truncated to int, as the
    official code does; the mask is drawn at the portrait's own size and resized with it.
    """
    width, height = size
    x, y, w, h = (float(v) for v in box_xywh)
    x2, y2 = x + w, y + h
    half_w, half_h = ((x2 - x) * area) // 2, ((y2 - y) * area) // 2
    cx, cy = (x2 + x) // 2, (y2 + y) // 2
    left, top = max(cx - half_w, 0), max(cy - half_h, 0)
    right, bottom = min(cx + half_w, width), min(cy + half_h, height)
    mask = np.zeros((height, width, 3), dtype=np.uint8)
    mask[int(top):int(bottom), int(left):int(right)] = 255
    return Image.fromarray(mask)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """uint8 HWC image → float32 (1, C, H, W) in [0, 1], like torchvision's ToTensor."""
    array = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
    return array.permute(2, 0, 1).unsqueeze(0).to(torch.float32).div(255)


def prepare_image(image: Image.Image, box_xywh: Sequence[float], *, min_resolution: int,
                  area: float = 1.1) -> PreparedImage:
    """Resize the portrait to the generation size and build ref image, face mask and CLIP input.

    `box_xywh` is the face box [x, y, w, h] in the pixel coordinates of `image`. Both image and
    mask are resized with LANCZOS only when the size changes (a resize to the same size is not
    an identity in PIL).
    """
    image = image.convert("RGB")
    mask = face_mask_image(image.size, box_xywh, area)
    size = generation_size(*image.size, min_resolution)
    if size != image.size:
        image = image.resize(size, Image.LANCZOS)
        mask = mask.resize(size, Image.LANCZOS)

    ref_img = (to_tensor(image) - 0.5) / 0.5
    squashed = image.resize((CLIP_SQUASH_SIZE, CLIP_SQUASH_SIZE), Image.LANCZOS)
    clip_pixel_values = CLIPImageProcessor()(images=squashed, return_tensors="pt").pixel_values
    return PreparedImage(ref_img=ref_img, face_mask=to_tensor(mask),
                         clip_pixel_values=clip_pixel_values.to(torch.float32))
