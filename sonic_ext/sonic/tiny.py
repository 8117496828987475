"""`models make-tiny`: a seeded random-weight tree in the official layout, for tests and smoke runs.

Every component keeps its real class, code path and tensor ranks; only widths and depths shrink
(the sizes of the golden fixtures, research: sonic_golden/README.md §1). The tree is read by the
same loader as the real checkpoints, so tests exercise the real loading code; its
`Sonic/sonic_config.json` marks it as test weights, which can never pass for a real model.

`full_size=True` writes the official widths and depths instead (about 8 GB): what the pipeline
benchmark runs on a GPU when the real weights cannot be had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
from transformers import (CLIPVisionConfig, CLIPVisionModelWithProjection, WhisperConfig,
                          WhisperFeatureExtractor, WhisperModel)

from ..errors import InputError
from .audio_adapters import Audio2Bucket, Audio2Token
from .components import SONIC_AUDIO_TOKENS, SVD_XT_SCHEDULER_CONFIG, SVD_XT_UNET_CONFIG
from .layout import SONIC_CONFIG, SVD
from .rife import IFNet
from .unet import SonicUNet

AUDIO_TOKENS = 4
UNET: dict[str, Any] = {  # SVD-xt's UNet with every width shrunk, head dim 16
    **SVD_XT_UNET_CONFIG, "sample_size": 8, "block_out_channels": [32, 32, 64, 64],
    "num_attention_heads": [2, 2, 4, 4], "cross_attention_dim": 32,
    "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 24,
}
VAE: dict[str, Any] = {
    "block_out_channels": [32, 32, 32, 32], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "sample_size": 64, "scaling_factor": 0.18215, "force_upcast": True,
}
CLIP: dict[str, Any] = {
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
    "patch_size": 14, "image_size": 224, "projection_dim": 32, "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
WHISPER: dict[str, Any] = {
    "d_model": 16, "encoder_layers": 4, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
    "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 32, "vocab_size": 64,
    "num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 16,
    "pad_token_id": 63, "bos_token_id": 62, "eos_token_id": 62, "decoder_start_token_id": 61,
}
AUDIO2TOKEN = {"seq_len": 10, "blocks": 5, "channels": 16, "intermediate_dim": 48,
               "output_dim": 32, "context_tokens": AUDIO_TOKENS}
AUDIO2BUCKET = {"seq_len": 50, "blocks": 1, "channels": 16, "clip_channels": 32,
                "intermediate_dim": 48, "output_dim": 1, "context_tokens": 2}


# The official sizes (research/sonic.md §3.3, §3.6); the adapters' and RIFE's are their defaults.
FULL_VAE: dict[str, Any] = {
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "sample_size": 768, "scaling_factor": 0.18215, "force_upcast": True,
}
FULL_CLIP: dict[str, Any] = {
    "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
    "num_attention_heads": 16, "patch_size": 14, "image_size": 224, "projection_dim": 1024,
    "hidden_act": "gelu", "layer_norm_eps": 1e-5,
}
FULL_WHISPER: dict[str, Any] = {
    "d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6, "encoder_ffn_dim": 1536,
    "decoder_layers": 4, "decoder_attention_heads": 6, "decoder_ffn_dim": 1536,
    "vocab_size": 51865, "num_mel_bins": 80, "max_source_positions": 1500,
    "max_target_positions": 448, "pad_token_id": 50257, "bos_token_id": 50257,
    "eos_token_id": 50257, "decoder_start_token_id": 50258,
}


@dataclass(frozen=True)
class TreeSizes:
    unet: dict[str, Any]
    audio_tokens: int
    vae: dict[str, Any]
    clip: dict[str, Any]
    whisper: dict[str, Any]
    audio2token: dict[str, Any] = field(default_factory=dict)
    audio2bucket: dict[str, Any] = field(default_factory=dict)


TINY = TreeSizes(UNET, AUDIO_TOKENS, VAE, CLIP, WHISPER, AUDIO2TOKEN, AUDIO2BUCKET)
FULL = TreeSizes(SVD_XT_UNET_CONFIG, SONIC_AUDIO_TOKENS, FULL_VAE, FULL_CLIP, FULL_WHISPER)


def make_tiny_tree(root: Path, seed: int = 0, *, full_size: bool = False) -> Path:
    """Write the tree under `root` (which must be empty or absent); return `root`."""
    if root.exists() and any(root.iterdir()):
        raise InputError("DIR", f"{root} is not empty; choose a new folder")
    sizes = FULL if full_size else TINY
    torch.manual_seed(seed)
    sonic, svd = root / "Sonic", root / SVD
    sonic.mkdir(parents=True)
    torch.save(SonicUNet.from_unet_config(sizes.unet, sizes.audio_tokens).state_dict(),
               sonic / "unet.pth")
    torch.save(Audio2Token(**sizes.audio2token).state_dict(), sonic / "audio2token.pth")
    torch.save(Audio2Bucket(**sizes.audio2bucket).state_dict(), sonic / "audio2bucket.pth")
    (root / SONIC_CONFIG).write_text(json.dumps({
        "test_weights": True, "seed": seed, "audio_tokens": sizes.audio_tokens,
        **({"audio2token": sizes.audio2token} if sizes.audio2token else {}),
        **({"audio2bucket": sizes.audio2bucket} if sizes.audio2bucket else {})}, indent=1))

    (root / "RIFE").mkdir()
    torch.save({f"module.{k}": v for k, v in IFNet().state_dict().items()},
               root / "RIFE" / "flownet.pkl")

    (svd / "unet").mkdir(parents=True)
    (svd / "unet" / "config.json").write_text(json.dumps(
        {"_class_name": "UNetSpatioTemporalConditionModel", **sizes.unet}, indent=1))
    EulerDiscreteScheduler.from_config(SVD_XT_SCHEDULER_CONFIG).save_config(svd / "scheduler")
    # nn.Module.to: diffusers' own `to` warns about float32-only modules this VAE does not have
    torch.nn.Module.to(AutoencoderKLTemporalDecoder(**sizes.vae), torch.float16).save_pretrained(
        svd / "vae", variant="fp16")
    # safe_serialization: older transformers (A1111 pins 4.30.2) write .bin files otherwise
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**sizes.clip)).to(torch.float16)
    clip.save_pretrained(svd / "image_encoder", variant="fp16", safe_serialization=True)

    whisper = root / "whisper-tiny"
    WhisperModel(WhisperConfig(**sizes.whisper)).save_pretrained(whisper,
                                                                  safe_serialization=True)
    WhisperFeatureExtractor().save_pretrained(whisper)
    return root
