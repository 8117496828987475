"""The Sonic UNet: SVD img2vid-xt with audio cross-attention on every `attn2`.

Sonic keeps the diffusers `UNetSpatioTemporalConditionModel` weights layout and adds an
IP-Adapter-style pair `to_k_ip`/`to_v_ip` to all 32 cross-attention layers, so the official
`unet.pth` loads unchanged. What differs is the forward pass (research/sonic.md §3.3):

- the CLIP and audio states arrive per frame, (B·F, n, C), and are not repeated;
- spatial `attn2` adds the audio attention weighted by the face mask, bicubically resized to the
  layer's token grid;
- temporal `attn2` attends to the mean over the window's frames of both contexts, unmasked.

Only what differs is ours: the `attn2` processor, the spatio-temporal transformer's forward and the
walk through the blocks (which carry the audio context). They rely on module names that the
checkpoint keys fix and on the forward of the leaf blocks (resnets, samplers, transformer blocks,
`AlphaBlender`), not on the block-level signatures that diffusers has changed over time; checked
with diffusers 0.29.0, 0.39.0 and 0.40.dev.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from inspect import signature
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import UNetSpatioTemporalConditionModel
from diffusers.models.attention_processor import Attention
from torch import nn

from .checkpoints import load_strict


_CONFIG_KEYS = frozenset(signature(UNetSpatioTemporalConditionModel.__init__).parameters) - {"self"}


class AudioContext(NamedTuple):
    """What an `attn2` layer attends to; passes through the stock blocks as `encoder_hidden_states`.

    `clip` (G, n, C) and `audio` (G, T, C) hold one row per group of queries: G = B·F in the spatial
    layers (one per frame), G = B in the temporal ones (one per window, shared by every pixel).
    `face_mask` (1, 1, H, W) weights the audio term, or None for no weighting.
    """

    clip: torch.Tensor
    audio: torch.Tensor
    face_mask: torch.Tensor | None


def downsample_face_mask(face_mask: torch.Tensor, num_queries: int) -> torch.Tensor:
    """The face mask as a layer with `num_queries` spatial tokens sees it, flattened row-major.

    Official behaviour, kept exactly: the grid height is int(sqrt(q·H/W)) with the square root
    taken in float32, plus one if it does not divide q; the width is q // height; bicubic without
    antialias; zero padding up to q. At coarse levels this gives odd values (≈0 at q=8 for a
    portrait); that is what the weights were trained with.
    """
    height, width = face_mask.shape[-2:]
    mask_h, mask_w = _mask_grid(num_queries, int(height), int(width))
    small = F.interpolate(face_mask.reshape(1, 1, height, width).float(), size=(mask_h, mask_w),
                          mode="bicubic", align_corners=False)
    return F.pad(small.flatten(), (0, num_queries - mask_h * mask_w))


@torch.compiler.assume_constant_result  # plain integers: torch.compile bakes the result in
def _mask_grid(num_queries: int, height: int, width: int) -> tuple[int, int]:
    """(rows, columns) of the mask grid a layer of `num_queries` tokens sees (see above)."""
    ratio = np.float32(num_queries / (width / height))
    mask_h = max(1, int(np.sqrt(ratio)))
    mask_h += int(num_queries % mask_h != 0)
    return mask_h, num_queries // mask_h


def _split_heads(states: torch.Tensor, heads: int) -> torch.Tensor:
    groups, length, channels = states.shape
    return states.view(groups, length, heads, channels // heads).transpose(1, 2)


def _merge_heads(states: torch.Tensor) -> torch.Tensor:
    groups, heads, length, head_dim = states.shape
    return states.transpose(1, 2).reshape(groups, length, heads * head_dim)


class SonicAudioAttnProcessor(nn.Module):
    """`attn2` processor: CLIP cross-attention plus the (face-masked) audio cross-attention.

    out = to_out(SDPA(q, K(clip), V(clip)) + scale · mask ⊙ SDPA(q, K_ip(audio), V_ip(audio))).
    The one-element ModuleLists give the official key names `to_k_ip.0.weight`/`to_v_ip.0.weight`.
    Queries of one group share their context, so they are attended as one sequence: in the
    temporal layers this avoids materialising the context once per pixel.
    """

    def __init__(self, hidden_size: int, cross_attention_dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.to_k_ip = nn.ModuleList([nn.Linear(cross_attention_dim, hidden_size, bias=False)])
        self.to_v_ip = nn.ModuleList([nn.Linear(cross_attention_dim, hidden_size, bias=False)])

    def forward(self, attn: Attention, hidden_states: torch.Tensor,
                encoder_hidden_states: AudioContext | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(encoder_hidden_states, AudioContext) or attention_mask is not None:
            raise TypeError("Sonic attn2 layers need an AudioContext and no attention mask; "
                            "call SonicUNet.forward, not the stock blocks")
        context = encoder_hidden_states
        batch, length, _ = hidden_states.shape
        query = attn.to_q(hidden_states)
        query = _split_heads(query.reshape(context.clip.shape[0], -1, query.shape[-1]), attn.heads)
        out = F.scaled_dot_product_attention(
            query, _split_heads(attn.to_k(context.clip), attn.heads),
            _split_heads(attn.to_v(context.clip), attn.heads))
        audio = F.scaled_dot_product_attention(
            query, _split_heads(self.to_k_ip[0](context.audio), attn.heads),
            _split_heads(self.to_v_ip[0](context.audio), attn.heads))
        out = _merge_heads(out).reshape(batch, length, -1)
        audio = _merge_heads(audio).reshape(batch, length, -1)
        if context.face_mask is not None:
            audio = audio * downsample_face_mask(context.face_mask, length).to(audio.dtype)[:, None]
        out = out + self.scale * audio
        for layer in attn.to_out:  # Linear, Dropout
            out = layer(out)
        return out


def _cast(model: SonicUNet, device: torch.device | str, dtype: torch.dtype) -> SonicUNet:
    """`nn.Module.to`: diffusers' override warns about fp32-kept modules on every dtype cast (some
    versions even with none to keep), and this model keeps none."""
    return nn.Module.to(model, device=device, dtype=dtype)


def _window_mean(states: torch.Tensor, batch: int) -> torch.Tensor:
    """(B·F, n, C) per-frame states → (B, n, C): the mean over each window's frames."""
    return states.reshape(batch, -1, *states.shape[1:]).mean(dim=1)


def _spatio_temporal_transformer(module: nn.Module, hidden: torch.Tensor, spatial: AudioContext,
                                 temporal: AudioContext, indicator: torch.Tensor) -> torch.Tensor:
    """`TransformerSpatioTemporalModel.forward` with Sonic's contexts.

    Stock diffusers gives the temporal block frame 0's context; Sonic gives it the window mean, and
    the audio context reaches both blocks.
    """
    batch_frames, channels, height, width = hidden.shape
    frames = indicator.shape[-1]
    residual = hidden
    hidden = module.norm(hidden).permute(0, 2, 3, 1).reshape(batch_frames, height * width, channels)
    hidden = module.proj_in(hidden)
    frame_ids = torch.arange(frames, device=hidden.device).repeat(batch_frames // frames)
    frame_emb = module.time_pos_embed(module.time_proj(frame_ids).to(hidden.dtype))[:, None, :]
    for block, temporal_block in zip(module.transformer_blocks, module.temporal_transformer_blocks):
        hidden = block(hidden, encoder_hidden_states=spatial)
        mixed = temporal_block(hidden + frame_emb, num_frames=frames,
                               encoder_hidden_states=temporal)
        hidden = module.time_mixer(x_spatial=hidden, x_temporal=mixed,
                                   image_only_indicator=indicator)
    hidden = module.proj_out(hidden)
    hidden = hidden.reshape(batch_frames, height, width, channels).permute(0, 3, 1, 2).contiguous()
    return hidden + residual


def _layers(block: nn.Module) -> Iterator[tuple[nn.Module, nn.Module | None]]:
    """(resnet, transformer or None) pairs of a down or up block, in call order."""
    attentions = getattr(block, "attentions", None)
    return zip(block.resnets, attentions if attentions is not None else [None] * len(block.resnets))


class SonicUNet(UNetSpatioTemporalConditionModel):
    """SVD's spatio-temporal UNet with Sonic's audio cross-attention and forward pass.

    Build it with `from_unet_config` (or `load_sonic_unet`), which installs the audio processors;
    its `state_dict()` then has exactly the keys, shapes and order of the official `unet.pth`.
    (The inherited `from_pretrained` would not install them.)
    """

    num_audio_tokens: int
    # Set by layer-by-layer offload (offload.py), whose weights rest in CPU memory between layers.
    execution_device: torch.device | None = None

    @classmethod
    def from_unet_config(cls, config: Mapping[str, Any], num_audio_tokens: int, *,
                         audio_scale: float = 1.0, device: torch.device | str = "cpu",
                         dtype: torch.dtype = torch.float32) -> SonicUNet:
        """A randomly initialised Sonic UNet from a diffusers UNet config (`unet/config.json`).

        Keys starting with '_' (class name, versions, notes) are ignored; other unknown keys are an
        error rather than silently dropped. `device="meta"` builds without allocating memory.
        `audio_scale` is Sonic's `ip_audio_scale` (1.0 in the official config).
        """
        unknown = sorted(k for k in config if not k.startswith("_") and k not in _CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown UNetSpatioTemporalConditionModel config keys: {unknown}")
        with torch.device(device):
            model = cls(**{k: v for k, v in config.items() if k in _CONFIG_KEYS})
            cross_attentions = [m for name, m in model.named_modules()
                                if isinstance(m, Attention) and name.endswith(".attn2")]
            for attn in cross_attentions:
                attn.set_processor(SonicAudioAttnProcessor(
                    attn.to_k.out_features, attn.to_k.in_features, audio_scale))
        model.num_audio_tokens = num_audio_tokens
        return _cast(model, device, dtype)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float,
                clip_embeds: torch.Tensor, audio_tokens: torch.Tensor,
                added_time_ids: torch.Tensor,
                face_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predict one window: sample (B, F, in_channels, h, w) → (B, F, out_channels, h, w).

        - timestep: the scheduler's continuous timestep (0.25·ln σ), scalar, (1,) or (B,);
        - clip_embeds (B·F, n, C) and audio_tokens (B·F, T, C): one row per frame, frames of a
          batch row contiguous (as `x[:, idx].flatten(0, 1)` gives them);
        - added_time_ids (B, 3): [fps, motion bucket, noise-aug slot], as in stock SVD;
        - face_mask (1, 1, H, W) in [0, 1] at image size weights the spatial audio attention;
          None leaves it unweighted.
        Inputs are moved to the model's device and dtype.
        """
        self._check_inputs(sample, clip_embeds, audio_tokens, added_time_ids, face_mask)
        batch, frames = sample.shape[:2]
        dtype = self.conv_in.weight.dtype
        device = self.execution_device or self.conv_in.weight.device

        # 1. Time and micro-condition embedding, one per frame
        timesteps = torch.as_tensor(timestep, dtype=torch.float32, device=device).reshape(-1)
        emb = self.time_embedding(self.time_proj(timesteps.expand(batch)).to(dtype))
        time_ids = self.add_time_proj(added_time_ids.to(device).flatten()).reshape(batch, -1)
        emb = (emb + self.add_embedding(time_ids.to(dtype))).repeat_interleave(frames, dim=0)

        # 2. Contexts: per frame for spatial attn2, the window mean (unmasked) for temporal attn2
        clip = clip_embeds.to(device, dtype)
        audio = audio_tokens.to(device, dtype)
        mask = None if face_mask is None else face_mask.to(device)
        spatial = AudioContext(clip, audio, mask)
        temporal = AudioContext(_window_mean(clip, batch), _window_mean(audio, batch), None)
        indicator = torch.zeros(batch, frames, dtype=dtype, device=device)

        def attend(module: nn.Module | None, hidden: torch.Tensor) -> torch.Tensor:
            if module is None:
                return hidden
            return _spatio_temporal_transformer(module, hidden, spatial, temporal, indicator)

        # 3. Down, mid and up blocks
        hidden = self.conv_in(sample.to(device, dtype).flatten(0, 1))
        skips = [hidden]
        for block in self.down_blocks:
            for resnet, module in _layers(block):
                hidden = attend(module, resnet(hidden, emb, image_only_indicator=indicator))
                skips.append(hidden)
            for downsampler in block.downsamplers or ():
                hidden = downsampler(hidden)
                skips.append(hidden)
        hidden = self.mid_block.resnets[0](hidden, emb, image_only_indicator=indicator)
        for module, resnet in zip(self.mid_block.attentions, self.mid_block.resnets[1:]):
            hidden = resnet(attend(module, hidden), emb, image_only_indicator=indicator)
        for block in self.up_blocks:
            for resnet, module in _layers(block):
                hidden = torch.cat([hidden, skips.pop()], dim=1)
                hidden = attend(module, resnet(hidden, emb, image_only_indicator=indicator))
            for upsampler in block.upsamplers or ():
                hidden = upsampler(hidden)

        # 4. Output
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return hidden.reshape(batch, frames, *hidden.shape[1:])

    def _check_inputs(self, sample: torch.Tensor, clip_embeds: torch.Tensor,
                      audio_tokens: torch.Tensor, added_time_ids: torch.Tensor,
                      face_mask: torch.Tensor | None) -> None:
        """Shape errors the blocks would report obscurely, or not at all (B vs B·F rows)."""
        if sample.ndim != 5:
            raise ValueError(f"sample must be (B, F, C, h, w), got {tuple(sample.shape)}")
        batch, frames = sample.shape[:2]
        rows, width = batch * frames, self.config.cross_attention_dim
        problems = []
        if clip_embeds.ndim != 3 or (clip_embeds.shape[0], clip_embeds.shape[2]) != (rows, width):
            problems.append(f"clip_embeds {tuple(clip_embeds.shape)} is not ({rows}, n, {width})")
        if tuple(audio_tokens.shape) != (rows, self.num_audio_tokens, width):
            problems.append(f"audio_tokens {tuple(audio_tokens.shape)} is not "
                            f"({rows}, {self.num_audio_tokens}, {width})")
        if added_time_ids.ndim != 2 or added_time_ids.shape[0] != batch:
            problems.append(f"added_time_ids {tuple(added_time_ids.shape)} is not ({batch}, 3)")
        if face_mask is not None and (face_mask.ndim != 4 or face_mask.shape[:2] != (1, 1)):
            problems.append(f"face_mask {tuple(face_mask.shape)} is not (1, 1, H, W)")
        if problems:
            raise ValueError("; ".join(problems))


def compile_forward(unet: SonicUNet) -> None:
    """torch.compile the UNet's forward in place. Static shapes: every window has the same, so
    it compiles once; the whole forward is one graph (no breaks: `_mask_grid`)."""
    unet.forward = torch.compile(unet.forward, dynamic=False)


def load_sonic_unet(config: Mapping[str, Any], num_audio_tokens: int, weights: str | Path, *,
                    audio_scale: float = 1.0, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> SonicUNet:
    """The Sonic UNet with the weights of `weights` (`unet.pth` or `.safetensors`), in eval mode.

    Built on the meta device and filled by assignment, so no random initialisation is paid for and
    peak memory is one copy of the weights; the load is strict (every key, every shape).
    """
    model = SonicUNet.from_unet_config(config, num_audio_tokens, audio_scale=audio_scale,
                                       device="meta")
    load_strict(model, weights, "Sonic UNet",
                hint="expected the official Sonic/unet.pth for this UNet config")
    return _cast(model, device, dtype).eval()
