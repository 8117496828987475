"""Golden cases: the official pipeline run on tiny random weights with every tensor recorded.

A case folder holds `weights/`, `inputs/` (portrait, audio, params.json) and `expected/`
(`<stage>.safetensors` + manifest.json with a tolerance per tensor). Every setting is read from
the case, never assumed, because held-back cases differ in geometry, length, steps and seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors.torch import load_file

from ..contracts import GenerationParams
from ..errors import InputError
from ..progress import ProgressCallback
from .audio_adapters import Audio2Bucket, Audio2Token, load_adapter
from .audio_features import load_whisper_files
from .clip import load_image_encoder_files
from .pipeline import (
    Conditioned,
    PipelineSettings,
    SonicModels,
    condition,
    decode_video,
    denoise_video,
    draw_noise,
)
from .preprocess import square_crop_box
from .rife import load_ifnet
from .sampling import Guidance, WindowSchedule
from .unet import compile_forward, downsample_face_mask, load_sonic_unet
from .vae import decode_chunks, load_vae_from_file


@dataclass(frozen=True)
class Comparison:
    name: str
    max_abs: float
    max_rel: float
    atol: float
    produced: bool = True

    @property
    def ok(self) -> bool:
        return self.produced and self.max_abs <= self.atol

    def to_dict(self) -> dict[str, object]:
        errors = (self.max_abs, self.max_rel) if self.produced else (None, None)
        return {"name": self.name, "max_abs": errors[0], "max_rel": errors[1],
                "atol": self.atol, "produced": self.produced, "ok": self.ok}


class GoldenCase:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for part in ("weights", "inputs/params.json", "expected/manifest.json"):
            if not (self.root / part).exists():
                raise InputError("CASE_DIR", f"not a golden case: {self.root / part} is missing")

    @cached_property
    def params(self) -> dict[str, Any]:
        return json.loads((self.root / "inputs" / "params.json").read_text())

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.root / "expected" / "manifest.json").read_text())

    @cached_property
    def _entries(self) -> dict[str, dict[str, Any]]:
        return {entry["name"]: entry for entry in self.manifest["tensors"]}

    def weights(self, name: str) -> Path:
        return self.root / "weights" / name

    def config(self, name: str) -> dict[str, Any]:
        return json.loads(self.weights(name).read_text())

    def input(self, name: str) -> Path:
        return self.root / "inputs" / name

    def expected(self, stage: str) -> dict[str, torch.Tensor]:
        """All tensors of one stage file, as float32 (some are stored in float16)."""
        return {k: v.to(torch.float32)
                for k, v in load_file(self.root / "expected" / f"{stage}.safetensors").items()}

    def tensor(self, name: str) -> torch.Tensor:
        """One expected tensor by its manifest name, `stage/key`."""
        entry = self._entries[name]
        return self.expected(entry["file"].removesuffix(".safetensors"))[entry["key"]]

    def names(self) -> list[str]:
        return list(self._entries)

    def atol(self, name: str) -> float:
        return float(self._entries[name]["recommended"]["atol"])

    def compare(self, name: str, actual: torch.Tensor) -> Comparison:
        """Compare with the expected tensor `stage/key` at the manifest's tolerance."""
        expected = self.tensor(name)
        actual = actual.detach().to("cpu", torch.float32)
        if tuple(actual.shape) != tuple(expected.shape):
            raise AssertionError(f"{name}: shape {tuple(actual.shape)}, expected "
                                 f"{tuple(expected.shape)}")
        diff = (actual - expected).abs()
        max_abs = float(diff.max()) if diff.numel() else 0.0
        scale = float(expected.abs().max()) if expected.numel() else 0.0
        return Comparison(name, max_abs, max_abs / scale if scale else max_abs, self.atol(name))

    # -- what the official run was given --------------------------------------------------------

    def portrait_and_box(self) -> tuple[Image.Image, list[float]]:
        """The image the official preprocessing saw and the face box on it (crop path included)."""
        params = self.params
        image = Image.open(self.input(params["image_fed_to_image_audio_to_tensor"]))
        image = image.convert("RGB")
        detector = params["face_detector_bypass"]
        if not params.get("crop_applied"):
            return image, list(detector["bbox_on_portrait_png_xywh"])
        x, y, w, h = detector["calls"][0]["bbox_xywh"]
        image = image.crop(square_crop_box([x, y, x + w, y + h], params["expand_ratio_crop"],
                                           image.height, image.width))
        return image, list(detector["calls"][-1]["bbox_xywh"])

    def settings(self) -> PipelineSettings:
        p = self.params
        g_min, g_max = p["appearance_guidance_scale_min_max"]
        params = GenerationParams(
            seed=p["seed"], steps=p["inference_steps"], dynamic_scale=p["dynamic_scale"],
            min_resolution=p["min_resolution"], keep_resolution=p["keep_resolution"],
            interpolate=p["config_yaml_effective"]["use_interframe"],
            decode_chunk_size=p["decode_chunk_size"])
        return PipelineSettings(
            params, area=p["area"], audio_step=p["step"],
            frame_limit=p["frame_num_limit"], fps=p["fps_condition"],
            rife_scales=tuple(p["rife_scale_list"]),
            windows=WindowSchedule(p["frames_per_window"], p["overlap"], p["shift_offset"]),
            guidance=Guidance(g_min, g_max, p["audio_guidance_scale"]))

    def load_models(self) -> SonicModels:
        """The case's tiny weights, through the same loaders as real checkpoints, in float32."""
        f32, cpu = torch.float32, "cpu"
        unet_config = self.config("unet_config.json")
        audio_tokens = self.config("audio2token_config.json")["kwargs"]
        return SonicModels(
            whisper=load_whisper_files(self.weights("whisper.safetensors"),
                                       self.weights("whisper_config.json"),
                                       self.weights("whisper_preprocessor_config.json")),
            audio2token=load_adapter(Audio2Token, self.weights("audio2token.safetensors"),
                                     kwargs=audio_tokens),
            audio2bucket=load_adapter(Audio2Bucket, self.weights("audio2bucket.safetensors"),
                                      kwargs=self.config("audio2bucket_config.json")["kwargs"]),
            image_encoder=load_image_encoder_files(self.weights("image_encoder.safetensors"),
                                                   self.weights("image_encoder_config.json"),
                                                   device=cpu, dtype=f32),
            vae=load_vae_from_file(self.weights("vae.safetensors"),
                                   self.weights("vae_config.json"), device=cpu, dtype=f32),
            unet=load_sonic_unet(unet_config, audio_tokens["context_tokens"],
                                 self.weights("unet.safetensors"), device=cpu, dtype=f32),
            rife=load_ifnet(self.weights("rife_flownet.safetensors"), device=cpu, dtype=f32),
            scheduler_config=self.config("scheduler_config.json"))


def run_golden_check(case: GoldenCase, progress: ProgressCallback | None = None, *,
                     compile_unet: bool = False) -> list[Comparison]:
    """Run our pipeline on the case, step by step, and compare every tensor its manifest lists.

    The probes sit here, not in the pipeline: each step's results are read off what it
    returns, the denoising loop's through its `record` hook."""
    image, box = case.portrait_and_box()
    audio = case.input(case.params["audio"]["file"])
    models, settings = case.load_models(), case.settings()
    if compile_unet:  # the compiled forward must reproduce the same tensors
        compile_forward(models.unet)
    conditioned = condition(models, image, box, audio, settings)
    produced = conditioned_tensors(conditioned, settings)

    def record_loop(name: str, tensor: torch.Tensor) -> None:  # "s0_w1_prev", "step0", ...
        produced[("latents/" if name.startswith("step") else "windows/") + name] = tensor

    latents = denoise_video(models, conditioned, settings, progress=progress,
                            record=record_loop)
    produced["latents/final"] = latents
    for key in ("timestep", "ehs_clip", "ehs_audio"):  # the UNet's first call: window 0, step 0
        produced[f"unet_call0/{key}"] = produced[f"windows/s0_w0_{key}"]
    produced["decode/decoded_frames"] = _as_video(
        decode_chunks(models.vae, latents, settings.params.decode_chunk_size))
    as_generated = replace(settings, params=replace(settings.params, keep_resolution=False))
    produced["rife/output_frames"] = _as_video(
        decode_video(models, latents, as_generated, image.size))
    face_mask = produced["pipeline_cond/face_mask_unet"]
    results = []
    for name in case.names():
        if name.startswith("pipeline_cond/ip_mask_downsampled_q"):
            queries = int(name.rsplit("_q", 1)[1])
            produced[name] = downsample_face_mask(face_mask, queries)
        if name in produced:
            results.append(case.compare(name, produced[name]))
        else:
            results.append(Comparison(name, float("nan"), float("nan"), case.atol(name),
                                      produced=False))
    return results


def conditioned_tensors(conditioned: Conditioned, settings: PipelineSettings
                        ) -> dict[str, torch.Tensor]:
    """Steps 1-5's results under the golden fixtures' names (`stage/key`)."""
    c, prepared, features, audio = (conditioned, conditioned.prepared, conditioned.features,
                                    conditioned.audio)
    frames = audio.num_frames
    noise_aug, _ = draw_noise(settings.params.seed, (1, 3, prepared.height, prepared.width),
                              c.noise.shape)  # the unused first draw, as the pipeline made it
    appearance, audio_scale = settings.guidance.scales(c.schedule.steps)
    return {
        "preprocess/ref_img": prepared.ref_img,
        "preprocess/face_mask": prepared.face_mask,
        "preprocess/clip_pixel_values": prepared.clip_pixel_values,
        "audio_cond/clip_image_embeds": c.clip,
        "audio/whisper_input_features": features.input_features,
        "audio/whisper_hidden_states": features.hidden_states,
        "audio/audio_prompts": features.prompts,
        "audio/last_audio_prompts": features.last_prompts,
        "audio_cond/audio_tokens_cond": audio.tokens_cond,
        "audio_cond/audio_tokens_uncond": audio.tokens_uncond,
        "audio_cond/audio2bucket_raw": audio.bucket_raw,
        "audio_cond/motion_buckets": audio.motion_buckets,
        "pipeline_cond/image_embeddings_cfg": c.cond.clip_embeds,
        "pipeline_cond/audio_prompts_cfg": c.cond.audio_tokens,
        "pipeline_cond/motion_buckets_scaled": c.cond.motion_buckets.reshape(1, frames, 1, 2, 1),
        "vae_encode/ref_latents": c.reference.ref_latents,
        "vae_encode/image_latents": c.reference.image_latents,
        "vae_encode/noise_aug": noise_aug,
        "latents/init_noise": c.noise,
        "pipeline_cond/sigmas": c.schedule.sigmas,
        "pipeline_cond/timesteps": c.schedule.timesteps,
        "pipeline_cond/guidance_scale1": appearance,
        "pipeline_cond/guidance_scale2": audio_scale,
        "pipeline_cond/face_mask_unet": c.face_mask,
        "latents/init_latents": c.latents,
    }


def _as_video(chunks: Iterable[torch.Tensor]) -> torch.Tensor:
    """Frame chunks (k, 3, H, W) as one (1, 3, T, H, W) clip, as the fixtures store frames."""
    return torch.cat(list(chunks)).permute(1, 0, 2, 3).unsqueeze(0)
