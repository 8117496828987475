"""Sonic's two audio adapters, written as plain torch modules, and a strict checkpoint loader.

`Audio2Token` ("audio2token", Sonic's `AudioProjModel`) turns a window of whisper tokens into the
context tokens the UNet's IP-audio attention reads. `Audio2Bucket` ("audio2bucket", Sonic's
`Audio2bucketModel`) predicts the two SVD conditioning numbers (motion bucket and the noise-aug
slot) from a wider window of the last whisper layer plus the CLIP image embedding.

Attribute names are chosen so that `state_dict()` keys and shapes equal the official
checkpoints (`audio2token.pth`, `audio2bucket.pth`): those files load strictly, unchanged. The
constructor defaults are the full-size values Sonic uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from .checkpoints import load_strict


class _WindowMLP(nn.Module):
    """Three linear layers over a flattened whisper window: the body both adapters share."""

    def __init__(self, seq_len: int, blocks: int, channels: int, extra_inputs: int,
                 intermediate_dim: int, context_tokens: int, output_dim: int) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.context_tokens = context_tokens
        self.output_dim = output_dim
        self.proj1 = nn.Linear(seq_len * blocks * channels + extra_inputs, intermediate_dim)
        self.proj2 = nn.Linear(intermediate_dim, intermediate_dim)
        self.proj3 = nn.Linear(intermediate_dim, context_tokens * output_dim)


class Audio2Token(_WindowMLP):
    """Whisper token window (B, F, seq_len, blocks, channels) -> tokens (B, F, context_tokens, dim).

    Three linear layers (ReLU between) on the flattened window, reshaped into tokens, then a
    LayerNorm per token. The LayerNorm and biases are why a zero window gives non-zero tokens.
    """

    def __init__(self, seq_len: int = 10, blocks: int = 5, channels: int = 384,
                 intermediate_dim: int = 1024, output_dim: int = 1024,
                 context_tokens: int = 32) -> None:
        super().__init__(seq_len, blocks, channels, 0, intermediate_dim, context_tokens,
                         output_dim)
        self.norm = nn.LayerNorm(output_dim)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        batch, frames = window.shape[:2]
        x = window.reshape(batch * frames, -1)
        x = torch.relu(self.proj1(x))
        x = torch.relu(self.proj2(x))
        tokens = self.proj3(x).reshape(batch * frames, self.context_tokens, self.output_dim)
        return self.norm(tokens).reshape(batch, frames, self.context_tokens, self.output_dim)


class Audio2Bucket(_WindowMLP):
    """Window (B, F, seq_len, blocks, channels) + CLIP embeds (B, clip_channels) -> (B, F, 2, 1).

    (The output is (B, F, context_tokens, output_dim) in general; Sonic uses 2 x 1.)

    The flattened window is concatenated with the image embedding (so the predicted motion
    depends on the face too), then three linear layers with SiLU between. No normalisation.
    """

    def __init__(self, seq_len: int = 50, blocks: int = 1, channels: int = 384,
                 clip_channels: int = 1024, intermediate_dim: int = 1024, output_dim: int = 1,
                 context_tokens: int = 2) -> None:
        super().__init__(seq_len, blocks, channels, clip_channels, intermediate_dim,
                         context_tokens, output_dim)
        self.act = nn.SiLU()

    def forward(self, window: torch.Tensor, clip_embeds: torch.Tensor) -> torch.Tensor:
        batch, frames = window.shape[:2]
        x = window.reshape(batch * frames, -1)
        x = torch.cat([x, clip_embeds.to(x.dtype).repeat_interleave(frames, dim=0)], dim=-1)
        x = self.act(self.proj1(x))
        x = self.act(self.proj2(x))
        return self.proj3(x).reshape(batch, frames, self.context_tokens, self.output_dim)


AdapterT = TypeVar("AdapterT", Audio2Token, Audio2Bucket)


def load_adapter(kind: type[AdapterT], path: Path, *, kwargs: Mapping[str, int] | None = None,
                 device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> AdapterT:
    """Build `kind(**kwargs)` (full size by default) and load `path` strictly, in eval mode.

    The module is built on the meta device and takes the file's tensors, so the full-size
    weights are never allocated twice. A file whose keys or shapes differ raises
    `ModelsMissing` naming the file and every offending key: a wrong or truncated checkpoint
    must not silently run with random weights.
    """
    with torch.device("meta"):
        module = kind(**(kwargs or {}))
    load_strict(module, path, kind.__name__)
    return module.to(device=device, dtype=dtype).eval()
