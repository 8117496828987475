"""The Sonic pipeline: one portrait, one face box, one speech clip -> frames in [0, 1].

Reads top to bottom like the official algorithm (research/sonic.md §4):

    1. prepare the image        resize to multiples of 64, face mask, CLIP input
    2. CLIP embedding           of the portrait
    3. audio features           whisper hidden states, per 30 s chunk
    4. audio conditioning       per-frame audio tokens and motion buckets
    5. reference latents        VAE encode; noise drawn in the official order
    6. denoise                  circular shifted windows, 3-way guidance, Euler steps
    7. decode + interpolate     streamed: VAE chunks -> RIFE -> caller (watermark, encode)

Frames are yielded chunk by chunk, so the whole video never sits on the GPU at once. `record`
receives every intermediate tensor under the golden fixtures' names (`stage/key`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
from .audio_features import Whisper, audio_conditioning, extract_audio_features
from .clip import image_embeds
from .offload import Residency
from .preprocess import kept_size, prepare_image, rescale_frames
from .rife import IFNet, decoded_to_unit, interpolate_stream
from .sampling import (Conditioning, Guidance, Schedule, WindowSchedule, denoise,
                       initial_latents)
from .unet import SonicUNet
from .vae import decode_chunks, encode_reference

Recorder = Callable[[str, torch.Tensor], None]


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


def generate_frames(models: SonicModels, image: Image.Image, face_box_xywh: Sequence[float],
                    audio: Path, settings: PipelineSettings, *,
                    progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                    record: Recorder | None = None) -> Iterator[torch.Tensor]:
    """Yield (k, 3, H, W) float frames in [0, 1] at 25 fps (12.5 fps without interpolation)."""
    rec = record or (lambda _name, _tensor: None)
    stage = models.residency.stage  # each model is on the device for its stage (offload.py)
    device, dtype = models.residency.device, next(models.unet.parameters()).dtype

    # 1. Prepare the image
    prepared = prepare_image(image, face_box_xywh, min_resolution=settings.params.min_resolution,
                             area=settings.area)
    for key in ("ref_img", "face_mask", "clip_pixel_values"):
        rec(f"preprocess/{key}", getattr(prepared, key))

    # 2. CLIP embedding of the portrait (the encoder leaves the GPU once it has served)
    with stage(models.image_encoder):
        clip = image_embeds(models.image_encoder, prepared.clip_pixel_values)
    rec("audio_cond/clip_image_embeds", clip)

    # 3. Audio features (likewise whisper)
    with stage(models.whisper.encoder):
        features = extract_audio_features(audio, models.whisper,
                                          frame_limit=settings.frame_limit)
    for key, value in (("whisper_input_features", features.input_features),
                       ("whisper_hidden_states", features.hidden_states),
                       ("audio_prompts", features.prompts),
                       ("last_audio_prompts", features.last_prompts)):
        rec(f"audio/{key}", value)

    # 4. Audio conditioning, stacked in CFG order: [uncond | image only | image + audio]
    with stage(models.audio2token, models.audio2bucket):
        audio_cond = audio_conditioning(features, models.audio2token, models.audio2bucket, clip,
                                        step=settings.audio_step)
    for key, value in (("audio_tokens_cond", audio_cond.tokens_cond),
                       ("audio_tokens_uncond", audio_cond.tokens_uncond),
                       ("audio2bucket_raw", audio_cond.bucket_raw),
                       ("motion_buckets", audio_cond.motion_buckets)):
        rec(f"audio_cond/{key}", value)
    frames = audio_cond.num_frames
    embeds = clip.to(dtype).reshape(1, 1, 1, -1).expand(1, frames, 1, -1)
    clip_cfg = torch.cat([torch.zeros_like(embeds), embeds, embeds])
    tokens = audio_cond.tokens_cond.to(dtype)
    audio_cfg = torch.stack([audio_cond.tokens_uncond.to(dtype)] * 2 + [tokens])
    buckets = audio_cond.motion_buckets.reshape(frames, 2) * settings.params.dynamic_scale
    rec("pipeline_cond/image_embeddings_cfg", clip_cfg)
    rec("pipeline_cond/audio_prompts_cfg", audio_cfg)
    rec("pipeline_cond/motion_buckets_scaled", buckets.reshape(1, frames, 1, 2, 1))

    # 5. Reference latents and noise
    with stage(models.vae):
        reference = encode_reference(models.vae, prepared.ref_img)
    rec("vae_encode/ref_latents", reference.ref_latents)
    rec("vae_encode/image_latents", reference.image_latents)
    height, width = prepared.height, prepared.width
    latent_shape = (1, frames, *reference.ref_latents.shape[1:])
    noise_aug, noise = draw_noise(settings.params.seed, (1, 3, height, width), latent_shape)
    rec("vae_encode/noise_aug", noise_aug)
    rec("latents/init_noise", noise)

    # 6. Denoise
    schedule = Schedule.from_scheduler_config(models.scheduler_config, settings.params.steps)
    rec("pipeline_cond/sigmas", schedule.sigmas)
    rec("pipeline_cond/timesteps", schedule.timesteps)
    appearance, audio_scale = settings.guidance.scales(schedule.steps)
    rec("pipeline_cond/guidance_scale1", appearance)
    rec("pipeline_cond/guidance_scale2", audio_scale)
    face_mask = prepared.face_mask[:, :1]
    rec("pipeline_cond/face_mask_unet", face_mask)
    per_frame = reference.image_latents.to(dtype).unsqueeze(1).expand(1, frames, -1, -1, -1)
    cond = Conditioning(image_latents=torch.cat([torch.zeros_like(per_frame), per_frame,
                                                  per_frame]),
                        clip_embeds=clip_cfg, audio_tokens=audio_cfg, motion_buckets=buckets,
                        fps=settings.fps)
    latents = initial_latents(reference.ref_latents, noise.to(device, reference.ref_latents.dtype),
                              float(schedule.sigmas[0])).to(dtype)
    rec("latents/init_latents", latents)
    calls = 0

    @torch.inference_mode()
    def unet(sample: torch.Tensor, timestep: torch.Tensor, clip_states: torch.Tensor,
             audio_states: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        if calls == 0:
            rec("unet_call0/timestep", timestep.reshape(1))
            rec("unet_call0/ehs_clip", clip_states)
            rec("unet_call0/ehs_audio", audio_states)
        calls += 1
        return models.unet(sample, timestep, clip_states, audio_states, time_ids, face_mask)

    def record_loop(name: str, tensor: torch.Tensor) -> None:  # "s0_w1_prev", "step0", ...
        rec(("latents/" if name.startswith("step") else "windows/") + name, tensor)

    with stage(models.unet):
        latents = denoise(latents, cond, unet, schedule, settings.guidance, settings.windows,
                          progress=progress, cancel=cancel, record=record_loop)
    rec("latents/final", latents)

    # 7. Decode and interpolate, chunk by chunk
    rife = models.rife if settings.params.interpolate else None
    with stage(models.vae, rife):
        decoded = _recorded_chunks(decode_chunks(models.vae, latents, settings.params.decode_chunk_size),
                                   "decode/decoded_frames", rec if record else None)
        if rife is not None:
            stream = interpolate_stream(rife, decoded, settings.rife_scales)
        else:
            stream = (decoded_to_unit(chunk, device=chunk.device, dtype=torch.float32)
                      for chunk in decoded)
        stream = _recorded_chunks(stream, "rife/output_frames", rec if record else None)
        if settings.params.keep_resolution:  # the official code rescales the finished video
            size = kept_size(*image.size)
            stream = (rescale_frames(chunk, size) for chunk in stream)
        yield from stream


def _recorded_chunks(chunks: Iterator[torch.Tensor], name: str,
                     record: Recorder | None) -> Iterator[torch.Tensor]:
    """Pass chunks through; with a recorder, also record their concatenation as (1,3,T,H,W)."""
    if record is None:
        yield from chunks
        return
    seen = []
    for chunk in chunks:
        seen.append(chunk)
        yield chunk
    record(name, torch.cat(seen).permute(1, 0, 2, 3).unsqueeze(0))
