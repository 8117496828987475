"""SVD's temporal-decoder VAE: loading, reference-image encode, streaming chunked decode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKLTemporalDecoder
from safetensors.torch import load_file

DECODE_CHUNK_SIZE = 8


@dataclass(frozen=True)
class EncodedReference:
    """The two latents Sonic derives from one encode of the reference image."""

    ref_latents: torch.Tensor  # (1,4,h,w) = mean · scaling_factor: initialises the video latents
    image_latents: torch.Tensor  # (1,4,h,w) = mode(), UNSCALED: the 4-channel concat condition


def load_vae(folder: str | Path, *, device: torch.device | str, dtype: torch.dtype,
             variant: str | None = "fp16") -> AutoencoderKLTemporalDecoder:
    """Load the VAE from a diffusers folder (config.json + weights of the given variant, fp16)."""
    vae = AutoencoderKLTemporalDecoder.from_pretrained(str(folder), variant=variant,
                                                       torch_dtype=dtype)
    return vae.to(device=device).eval().requires_grad_(False)


def load_vae_from_file(weights: str | Path, config: str | Path, *, device: torch.device | str,
                       dtype: torch.dtype) -> AutoencoderKLTemporalDecoder:
    """Load the VAE from a bare state-dict file and its config JSON (strict key match)."""
    vae = AutoencoderKLTemporalDecoder.from_config(json.loads(Path(config).read_text()))
    vae.load_state_dict(load_file(str(weights)), strict=True)
    if dtype != vae.dtype:  # diffusers warns on any dtype cast, so cast only when one is needed
        vae = vae.to(dtype=dtype)
    return vae.to(device=device).eval().requires_grad_(False)


@torch.no_grad()
def encode_reference(vae: AutoencoderKLTemporalDecoder, ref_img: torch.Tensor) -> EncodedReference:
    """Encode the (1,3,H,W) [-1,1] reference once.

    Sonic encodes `ref` and `ref + noise_aug_strength·noise` separately; with its strength 0 the
    inputs are equal, and `mode()` of the diagonal Gaussian is its mean, so one pass suffices.
    """
    dist = vae.encode(ref_img.to(device=vae.device, dtype=vae.dtype)).latent_dist
    return EncodedReference(ref_latents=dist.mean * vae.config.scaling_factor,
                            image_latents=dist.mode())


@torch.no_grad()
def decode_chunks(vae: AutoencoderKLTemporalDecoder, latents: torch.Tensor,
                  chunk_size: int = DECODE_CHUNK_SIZE) -> Iterator[torch.Tensor]:
    """Decode (1,N,4,h,w) or (N,4,h,w) latents `chunk_size` frames at a time.

    Yields raw (n,3,H,W) frames (not clamped, roughly [-1,1]) on the VAE's device and dtype, so
    the caller can interpolate and encode each chunk before the next is decoded. Each chunk is
    decoded with `num_frames` = its length, because the temporal decoder mixes frames within a
    call. Latents are multiplied by the reciprocal of the scaling factor, as the official code
    does: dividing instead rounds differently.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if latents.dim() == 5:
        if latents.shape[0] != 1:
            raise ValueError(f"expected one video (1,N,4,h,w), got {tuple(latents.shape)}")
        latents = latents[0]
    inverse_scale = 1 / vae.config.scaling_factor
    for start in range(0, latents.shape[0], chunk_size):
        chunk = latents[start:start + chunk_size].to(device=vae.device, dtype=vae.dtype)
        yield vae.decode(chunk * inverse_scale, num_frames=chunk.shape[0]).sample
