"""The full-size trained components, built on the meta device to list their state-dict layout.

`models keys` prints these so anyone can check, without downloading 6 GB, that our modules take
the official checkpoints unchanged (`../shared/reference/sonic_state_dict/`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .audio_adapters import Audio2Bucket, Audio2Token
from .rife import IFNet
from .unet import SonicUNet

# SVD img2vid-xt `unet/config.json` (research/sonic.md §3.3); Sonic uses 32 audio tokens.
SVD_XT_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 96, "in_channels": 8, "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlockSpatioTemporal"] * 3 + ["DownBlockSpatioTemporal"],
    "up_block_types": ["UpBlockSpatioTemporal"] + ["CrossAttnUpBlockSpatioTemporal"] * 3,
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
    "transformer_layers_per_block": 1, "num_attention_heads": [5, 10, 20, 20],
    "cross_attention_dim": 1024, "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768, "num_frames": 25,
}
SONIC_AUDIO_TOKENS = 32

_BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "unet": lambda: SonicUNet.from_unet_config(SVD_XT_UNET_CONFIG, SONIC_AUDIO_TOKENS,
                                               device="meta"),
    "audio2token": Audio2Token,
    "audio2bucket": Audio2Bucket,
    "rife": IFNet,
}
COMPONENTS = tuple(_BUILDERS)


def full_size(component: str) -> nn.Module:
    """The component at the official size, on the meta device (no memory, no weights)."""
    with torch.device("meta"):
        return _BUILDERS[component]()


def state_dict_layout(module: nn.Module) -> list[list[Any]]:
    """[key, shape, dtype] per entry, in state_dict order: the reference lists' format."""
    return [[key, list(value.shape), str(value.dtype).removeprefix("torch.")]
            for key, value in module.state_dict().items()]

# SVD img2vid-xt `scheduler/scheduler_config.json`: v-prediction, Karras sigmas 700 -> 0.002.
SVD_XT_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
    "interpolation_type": "linear", "num_train_timesteps": 1000,
    "prediction_type": "v_prediction", "set_alpha_to_one": False, "sigma_max": 700.0,
    "sigma_min": 0.002, "skip_prk_steps": True, "steps_offset": 1,
    "timestep_spacing": "leading", "timestep_type": "continuous", "trained_betas": None,
    "use_karras_sigmas": True,
}
