"""SVD's CLIP image encoder (ViT-H/14 with projection): one embedding of the portrait.

It conditions the UNet's cross-attention and the motion buckets. transformers' own class loads
the official files unchanged; the encoder can be freed as soon as the embedding exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from ..errors import ModelsMissing


def load_image_encoder(folder: Path, *, device: torch.device | str, dtype: torch.dtype,
                       variant: str | None = "fp16") -> CLIPVisionModelWithProjection:
    """From SVD's `image_encoder/` folder (config.json + model.fp16.safetensors)."""
    model = CLIPVisionModelWithProjection.from_pretrained(str(folder), variant=variant,
                                                          torch_dtype=dtype)
    return model.to(device).eval().requires_grad_(False)


def load_image_encoder_files(weights: Path, config: Path, *, device: torch.device | str,
                             dtype: torch.dtype) -> CLIPVisionModelWithProjection:
    """From a bare safetensors file and its config JSON, with a strict key check."""
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**json.loads(config.read_text())))
    result = model.load_state_dict(load_file(str(weights)), strict=False)
    # older transformers (A1111 pins 4.30.2) keep the fixed arange `position_ids` as a buffer
    missing = [k for k in result.missing_keys if not k.endswith("embeddings.position_ids")]
    if missing or result.unexpected_keys:
        raise ModelsMissing(f"{weights}: not a CLIP image encoder checkpoint (missing keys: "
                            f"{', '.join(missing) or '-'}; unexpected keys: "
                            f"{', '.join(result.unexpected_keys) or '-'})")
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


@torch.inference_mode()
def image_embeds(encoder: CLIPVisionModelWithProjection, pixel_values: torch.Tensor
                 ) -> torch.Tensor:
    """(1, projection_dim) embedding of (1, 3, 224, 224) CLIP-normalised pixels."""
    parameter = next(encoder.parameters())
    return encoder(pixel_values.to(parameter.device, parameter.dtype)).image_embeds
