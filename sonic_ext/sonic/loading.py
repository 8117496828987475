"""Loading every component from a models folder in the official Sonic layout (design §3).

The same code reads the real checkpoints and the seeded test trees of `models make-tiny`; the
only difference is our own optional `Sonic/sonic_config.json`, which records the sizes of the
audio adapters for test weights (the official release has none: full sizes are the default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelsMissing
from .audio_adapters import Audio2Bucket, Audio2Token, load_adapter
from .audio_features import load_whisper
from .clip import load_image_encoder
from .components import SONIC_AUDIO_TOKENS
from .layout import SONIC_CONFIG, SVD, check_models
from .offload import Residency
from .pipeline import SonicModels
from .rife import load_ifnet
from .unet import load_sonic_unet
from .vae import load_vae


def read_sonic_config(models_dir: Path) -> dict[str, Any]:
    path = models_dir / SONIC_CONFIG
    return json.loads(path.read_text()) if path.is_file() else {}


def load_models(models_dir: Path, *, device: torch.device | str, dtype: torch.dtype,
                interpolate: bool = True, offload: str = "none") -> SonicModels:
    """All components, the big ones in `dtype`, audio models and RIFE in float32, each loaded
    where `offload` rests it (offload.py) to run on `device`."""
    status = check_models(models_dir)
    if not status.ready:
        listing = ", ".join(f"{f.file.path} ({f.state})" for f in status.problems)
        raise ModelsMissing(f"the models folder {models_dir} is not complete: {listing}",
                            hint="run `sonic-ext models download`, or place the files there "
                                 "(see README, Models)")
    extra = read_sonic_config(models_dir)
    residency = Residency.for_device(device, offload)
    home = residency.home_of
    f32 = torch.float32
    svd = models_dir / SVD
    models = SonicModels(
        whisper=load_whisper(models_dir / "whisper-tiny", device=home("whisper"), dtype=f32),
        audio2token=load_adapter(Audio2Token, models_dir / "Sonic" / "audio2token.pth",
                                 kwargs=extra.get("audio2token"), device=home("audio2token"),
                                 dtype=f32),
        audio2bucket=load_adapter(Audio2Bucket, models_dir / "Sonic" / "audio2bucket.pth",
                                  kwargs=extra.get("audio2bucket"), device=home("audio2bucket"),
                                  dtype=f32),
        image_encoder=load_image_encoder(svd / "image_encoder", device=home("image_encoder"),
                                         dtype=dtype),
        vae=load_vae(svd / "vae", device=home("vae"), dtype=dtype),
        unet=load_sonic_unet(json.loads((svd / "unet" / "config.json").read_text()),
                             extra.get("audio_tokens", SONIC_AUDIO_TOKENS),
                             models_dir / "Sonic" / "unet.pth", device=home("unet"), dtype=dtype),
        rife=load_ifnet(models_dir / "RIFE" / "flownet.pkl", device=home("rife"))
        if interpolate else None,
        scheduler_config=json.loads((svd / "scheduler" / "scheduler_config.json").read_text()),
        residency=residency)
    residency.prepare([models.whisper.encoder, models.audio2token, models.audio2bucket,
                       models.image_encoder, models.vae, models.unet, models.rife], models.unet)
    return models
