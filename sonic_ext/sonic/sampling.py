"""Sonic's denoising loop: circular, shifted windows over the whole clip with 3-way guidance.

Every step covers all N frames with windows of 25 frames that wrap around the end of the clip;
the window grid moves by `shift_offset` frames per step ("time-aware position shift"), so window
seams never stay in one place. Each window is one UNet call on a batch of 3 CFG rows
(uncond | image only | image + audio); frames seen by several windows are averaged.

The UNet is passed in as a function, so this module knows nothing of its internals and the
golden check can record every intermediate tensor through `record`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import EulerDiscreteScheduler

from ..progress import CancelToken, ProgressCallback, StageTimer

# unet(sample[3,F,8,h,w], timestep, clip[3F,1,C], audio[3F,T,C], added_time_ids[3,3]) -> [3,F,4,h,w]
UNetFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
                  torch.Tensor]
Recorder = Callable[[str, torch.Tensor], None]


@dataclass(frozen=True)
class WindowSchedule:
    """Official values: 25 frames per window, no overlap, a shift of 7 frames per step."""

    frames: int = 25
    overlap: int = 0
    shift_offset: int = 7

    def windows(self, num_frames: int, step: int) -> list[list[int]]:
        """Frame indices of each window at denoising `step` (indices repeat when N < frames)."""
        shift = step * self.shift_offset
        stride = self.frames - self.overlap
        return [[(start - shift + j) % num_frames for j in range(self.frames)]
                for start in range(0, num_frames, stride)]


@dataclass(frozen=True)
class Guidance:
    """Appearance scale (linear from min to max over the steps) and audio scale."""

    appearance_min: float = 2.0
    appearance_max: float = 2.0
    audio: float = 7.5

    def scales(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        appearance = torch.linspace(self.appearance_min, self.appearance_max, steps)
        return appearance, torch.full((steps,), self.audio)


@dataclass(frozen=True)
class Schedule:
    """Noise levels of the Euler sampler: `sigmas` has one more entry (the final 0)."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    @classmethod
    def from_scheduler_config(cls, config: Mapping[str, Any], steps: int) -> Schedule:
        """SVD-xt's EulerDiscreteScheduler config (v-prediction, Karras sigmas 700 -> 0.002)."""
        scheduler = EulerDiscreteScheduler.from_config(dict(config))
        scheduler.set_timesteps(steps, device="cpu")
        return cls(scheduler.sigmas.to(torch.float32), scheduler.timesteps.to(torch.float32))

    @property
    def steps(self) -> int:
        return len(self.timesteps)


@dataclass(frozen=True)
class Conditioning:
    """Per-frame conditions for all N frames, already stacked in CFG order."""

    image_latents: torch.Tensor   # (3, N, 4, h, w): [zeros, latent, latent], unscaled mode()
    clip_embeds: torch.Tensor     # (3, N, 1, C):    [zeros, embeds, embeds]
    audio_tokens: torch.Tensor    # (3, N, T, C):    [uncond, uncond, cond]
    motion_buckets: torch.Tensor  # (N, 2): bucket values already times dynamic_scale
    fps: float = 12.5


def euler_v_step(x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """One Euler step of a v-prediction model, in float32 as diffusers does it."""
    x32, v32 = x.to(torch.float32), v.to(torch.float32)
    denoised = v32 * (-sigma / (sigma**2 + 1) ** 0.5) + x32 / (sigma**2 + 1)
    derivative = (x32 - denoised) / sigma
    return (x32 + derivative * (sigma_next - sigma)).to(x.dtype)


def guide(out: torch.Tensor, appearance: float, audio: float) -> torch.Tensor:
    """Combine the 3 CFG rows: u + g1·(a − u) + g2·(c − a)."""
    uncond, image_only, full = out.chunk(3)
    return uncond + appearance * (image_only - uncond) + audio * (full - image_only)


def initial_latents(ref_latents: torch.Tensor, noise: torch.Tensor, sigma0: float) -> torch.Tensor:
    """The clip starts from the reference image's latents plus noise at the first sigma."""
    return ref_latents.unsqueeze(1) + sigma0 * noise


def denoise(latents: torch.Tensor, cond: Conditioning, unet: UNetFn, schedule: Schedule,
            guidance: Guidance = Guidance(), windows: WindowSchedule = WindowSchedule(), *,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
            record: Recorder | None = None) -> torch.Tensor:
    """Run every denoising step over every window; return the final latents (1, N, 4, h, w)."""
    num_frames = latents.shape[1]
    appearance, audio = guidance.scales(schedule.steps)
    # Every window's frame indices and every timestep go to the device once, here: inside the
    # loop a copy from the host would make the host wait for the GPU at each window.
    device = latents.device
    plan = _sent(torch.tensor([windows.windows(num_frames, i) for i in range(schedule.steps)]),
                 device)  # (steps, windows, frames)
    timer = StageTimer("denoise", plan.shape[0] * plan.shape[1], progress) if progress else None
    done = 0
    timesteps = _sent(schedule.timesteps, device)
    for i, timestep in enumerate(timesteps):
        sigma, sigma_next = float(schedule.sigmas[i]), float(schedule.sigmas[i + 1])
        total = torch.zeros_like(latents)
        count = torch.zeros(num_frames, dtype=latents.dtype, device=device)
        for k, idx in enumerate(plan[i]):
            if cancel is not None:
                cancel.raise_if_cancelled()
            prev = _window_step(latents, cond, unet, idx, timestep, sigma, sigma_next,
                                float(appearance[i]), float(audio[i]),
                                _prefixed(record, f"s{i}_w{k}_"))
            # Same indexing as the official loop: a frame repeated inside one window (N < 25)
            # takes the last value and counts once.
            total[:, idx] += prev
            count[idx] += 1
            done += 1
            if timer is not None:
                timer.report(done, f"step {i + 1}/{schedule.steps}, window {k + 1}")
        latents = total / count.view(1, -1, 1, 1, 1)
        if record is not None:
            record(f"step{i}", latents)
    return latents


def _sent(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device`, copied without making the host wait (from pinned memory)."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _window_step(latents: torch.Tensor, cond: Conditioning, unet: UNetFn, idx: torch.Tensor,
                 timestep: torch.Tensor, sigma: float, sigma_next: float, appearance: float,
                 audio: float, record: Recorder | None) -> torch.Tensor:
    x = latents[:, idx]
    scaled = torch.cat([x] * 3) / ((sigma**2 + 1) ** 0.5)
    sample = torch.cat([scaled, cond.image_latents[:, idx].to(x.dtype)], dim=2)
    buckets = cond.motion_buckets[idx].mean(dim=0)
    time_ids = torch.stack([buckets.new_full((), cond.fps), buckets[0], buckets[1]])
    added_time_ids = time_ids.unsqueeze(0).repeat(3, 1)
    clip_states = cond.clip_embeds[:, idx].flatten(0, 1)
    audio_states = cond.audio_tokens[:, idx].flatten(0, 1)
    out = unet(sample, timestep, clip_states, audio_states, added_time_ids)
    guided = guide(out, appearance, audio)
    prev = euler_v_step(x, guided, sigma, sigma_next)
    if record is not None:
        for name, tensor in (("x_in", x), ("timestep", timestep.reshape(1)),
                             ("unet_sample", sample), ("ehs_clip", clip_states),
                             ("ehs_audio", audio_states), ("added_time_ids", added_time_ids),
                             ("unet_out", out), ("guided", guided), ("prev", prev)):
            record(name, tensor)
    return prev


def _prefixed(record: Recorder | None, prefix: str) -> Recorder | None:
    if record is None:
        return None
    return lambda name, tensor: record(prefix + name, tensor)
