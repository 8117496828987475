"""The Sonic pipeline: one portrait, one face box, one speech clip -> frames in [0, 1].

Reads top to bottom like the official algorithm (research/sonic.md §4):

    1. prepare the image        resize to multiples of 64, face mask, CLIP input
    2. CLIP embedding           of the portrait
    3. audio features           whisper hidden states, per 30 s chunk
    4. audio conditioning       per-frame audio tokens and motion buckets
    5. reference latents        VAE encode; noise drawn in the official order
    6. denoise                  circular shifted windows, 3-way guidance, Euler steps
    7. decode + interpolate     streamed: VAE chunks -> RIFE -> caller (watermark, encode)

Steps 1-6 run eagerly (`condition`, `denoise_video`: the latents are small), step 7 yields
frames chunk by chunk (`decode_video`), so the whole video never sits on the GPU at once. The
golden check reads each step's results from outside (sonic/golden.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLTemporalDecoder
from PIL import Image
from transformers import CLIPVisionModelWithProjection

from ..contracts import GenerationParams
from ..progress import CancelToken, ProgressCallback
from .audio_adapters import Audio2Bucket, Audio2Token
from .audio_features import (
    AudioConditioning,
    AudioFeatures,
    Whisper,
    audio_conditioning,
    extract_audio_features,
)
from .cancel_points import cancel_points
from .clip import image_embeds
from .motion import shape_buckets
from .offload import Residency
from .preprocess import PreparedImage, kept_size, prepare_image, rescale_frames
from .rife import IFNet, decoded_to_unit, interpolate_stream
from .sampling import (
    Conditioning,
    Guidance,
    Recorder,
    Schedule,
    WindowSchedule,
    denoise,
    initial_latents,
)
from .unet import SonicUNet
from .vae import EncodedReference, decode_chunks, encode_reference


@dataclass
class SonicModels:
    """Every loaded component; `rife` is None when frame interpolation is off."""

    whisper: Whisper
    audio2token: Audio2Token
    audio2bucket: Audio2Bucket
    image_encoder: CLIPVisionModelWithProjection
    vae: AutoencoderKLTemporalDecoder
    unet: SonicUNet
    rife: IFNet | None
    scheduler_config: Mapping[str, Any]
    residency: Residency = field(default_factory=lambda: Residency(torch.device("cpu")))


@dataclass(frozen=True)
class PipelineSettings:
    """The user's parameters (declared once, in `GenerationParams`) and Sonic's fixed settings;
    the defaults are the official `sonic.yaml` values."""

    params: GenerationParams = field(default_factory=GenerationParams)
    area: float = 1.1
    audio_step: int = 2
    frame_limit: int = 10_000
    fps: float = 12.5
    rife_scales: tuple[float, ...] = (4.0, 2.0, 1.0)
    windows: WindowSchedule = field(default_factory=WindowSchedule)
    guidance: Guidance = field(default_factory=Guidance)


def draw_noise(seed: int, image_shape: Sequence[int], latent_shape: Sequence[int]
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The official order of random draws: an (unused) image-noise draw, then the latent noise.

    Drawn on a seeded CPU generator, so one seed gives the same video on every device.
    """
    generator = torch.Generator("cpu").manual_seed(seed)
    noise_aug = torch.randn(tuple(image_shape), generator=generator)
    return noise_aug, torch.randn(tuple(latent_shape), generator=generator)


@dataclass(frozen=True)
class Conditioned:
    """Steps 1-5: what the denoising loop starts from (the golden check compares these too)."""

    prepared: PreparedImage
    clip: torch.Tensor             # (1, C) CLIP embedding of the portrait
    features: AudioFeatures
    audio: AudioConditioning       # the adapters' tokens and motion buckets, per frame
    cond: Conditioning             # the per-frame conditions stacked in CFG order
    reference: EncodedReference
    noise: torch.Tensor            # the latent noise, drawn in the official order
    schedule: Schedule
    face_mask: torch.Tensor        # the UNet's face mask
    latents: torch.Tensor          # the starting latents: reference plus noise at sigma 0


def generate_frames(models: SonicModels, image: Image.Image, face_box_xywh: Sequence[float],
                    audio: Path, settings: PipelineSettings, *,
                    progress: ProgressCallback | None = None, cancel: CancelToken | None = None
                    ) -> Iterator[torch.Tensor]:
    """Yield (k, 3, H, W) float frames in [0, 1] at 25 fps (12.5 fps without interpolation)."""
    conditioned = condition(models, image, face_box_xywh, audio, settings)
    latents = denoise_video(models, conditioned, settings, progress=progress, cancel=cancel)
    del conditioned  # only the latents are needed to decode
    yield from decode_video(models, latents, settings, image.size)


def condition(models: SonicModels, image: Image.Image, face_box_xywh: Sequence[float],
              audio: Path, settings: PipelineSettings) -> Conditioned:
    """Steps 1-5: the portrait and the speech clip as the conditions of the denoising loop."""
    stage = models.residency.stage  # each model is on the device for its stage (offload.py)
    device, dtype = models.residency.device, next(models.unet.parameters()).dtype

    # 1. Prepare the image
    prepared = prepare_image(image, face_box_xywh, min_resolution=settings.params.min_resolution,
                             area=settings.area)

    # 2. CLIP embedding of the portrait (the encoder leaves the GPU once it has served)
    with stage(models.image_encoder):
        clip = image_embeds(models.image_encoder, prepared.clip_pixel_values)

    # 3. Audio features (likewise whisper)
    with stage(models.whisper.encoder):
        features = extract_audio_features(audio, models.whisper,
                                          frame_limit=settings.frame_limit,
                                          start=settings.params.start,
                                          duration=settings.params.duration,
                                          offset_ms=settings.params.lip_sync_offset_ms)

    # 4. Audio conditioning, stacked in CFG order: [uncond | image only | image + audio]
    with stage(models.audio2token, models.audio2bucket):
        audio_cond = audio_conditioning(features, models.audio2token, models.audio2bucket, clip,
                                        step=settings.audio_step)
    frames = audio_cond.num_frames
    embeds = clip.to(dtype).reshape(1, 1, 1, -1).expand(1, frames, 1, -1)
    tokens = audio_cond.tokens_cond.to(dtype)

    # 5. Reference latents and noise
    with stage(models.vae):
        reference = encode_reference(models.vae, prepared.ref_img)
    latent_shape = (1, frames, *reference.ref_latents.shape[1:])
    _, noise = draw_noise(settings.params.seed, (1, 3, prepared.height, prepared.width),
                          latent_shape)
    schedule = Schedule.from_scheduler_config(models.scheduler_config, settings.params.steps)
    per_frame = reference.image_latents.to(dtype).unsqueeze(1).expand(1, frames, -1, -1, -1)
    cond = Conditioning(
        image_latents=torch.cat([torch.zeros_like(per_frame), per_frame, per_frame]),
        clip_embeds=torch.cat([torch.zeros_like(embeds), embeds, embeds]),
        audio_tokens=torch.stack([audio_cond.tokens_uncond.to(dtype)] * 2 + [tokens]),
        motion_buckets=shape_buckets(audio_cond.motion_buckets.reshape(frames, 2),
                                     dynamic_scale=settings.params.dynamic_scale,
                                     motion_scale=settings.params.motion_scale,
                                     expression_scale=settings.params.expression_scale,
                                     smoothing=settings.params.motion_smoothing),
        fps=settings.fps)
    latents = initial_latents(reference.ref_latents, noise.to(device, reference.ref_latents.dtype),
                              float(schedule.sigmas[0])).to(dtype)
    return Conditioned(prepared, clip, features, audio_cond, cond, reference, noise, schedule,
                       prepared.face_mask[:, :1], latents)


def denoise_video(models: SonicModels, conditioned: Conditioned, settings: PipelineSettings, *,
                  progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                  record: Recorder | None = None) -> torch.Tensor:
    """Step 6: every denoising step over the whole clip; the final latents (1, N, 4, h, w).
    `record` receives the loop's intermediate tensors (`sampling.denoise`)."""
    face_mask = conditioned.face_mask

    @torch.inference_mode()
    def unet(sample: torch.Tensor, timestep: torch.Tensor, clip_states: torch.Tensor,
             audio_states: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
        return models.unet(sample, timestep, clip_states, audio_states, time_ids, face_mask)

    with models.residency.stage(models.unet), cancel_points(models.unet, cancel):
        return denoise(conditioned.latents, conditioned.cond, unet, conditioned.schedule,
                       settings.guidance, settings.windows, progress=progress, cancel=cancel,
                       record=record)


def decode_video(models: SonicModels, latents: torch.Tensor, settings: PipelineSettings,
                 portrait_size: tuple[int, int]) -> Iterator[torch.Tensor]:
    """Step 7, streamed: VAE chunks -> RIFE -> frames in [0, 1] at the portrait's size with
    keep_resolution (the official code rescales the finished video)."""
    rife = models.rife if settings.params.interpolate else None
    with models.residency.stage(models.vae, rife):
        decoded = decode_chunks(models.vae, latents, settings.params.decode_chunk_size)
        if rife is not None:
            stream = interpolate_stream(rife, decoded, settings.rife_scales)
        else:
            stream = (decoded_to_unit(chunk, device=chunk.device, dtype=torch.float32)
                      for chunk in decoded)
        if settings.params.keep_resolution:
            size = kept_size(*portrait_size)
            stream = (rescale_frames(chunk, size) for chunk in stream)
        yield from stream
