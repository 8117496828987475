"""Every attention runs through torch's scaled_dot_product_attention (flash or memory-efficient
kernels on CUDA), never as an explicit softmax over a materialised score matrix.

A dispatch mode counts the operations of one forward pass of each model. The UNet (its audio
cross-attention is ours, the rest diffusers' AttnProcessor2_0) and the VAE always use SDPA;
whisper and CLIP do where transformers has SDPA attention for them (4.36 and later): A1111's
pinned 4.30.2 runs them with an explicit softmax, which on those small encoders costs little.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
import transformers
from packaging.version import Version
from torch.utils._python_dispatch import TorchDispatchMode

from tests.sonic.test_offload import _tiny_unet, _unet_inputs

SDPA_IN_TRANSFORMERS = Version(transformers.__version__) >= Version("4.36")


class Operations(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))

    def attention(self) -> dict[str, int]:
        return {"sdpa": sum(n for op, n in self.counts.items() if "scaled_dot_product" in op),
                "softmax": sum(n for op, n in self.counts.items() if "softmax" in op)}


def counted(forward) -> dict[str, int]:  # noqa: ANN001
    with torch.no_grad(), Operations() as operations:
        forward()
    return operations.attention()


def test_the_unet_attends_only_through_sdpa() -> None:
    unet = _tiny_unet().eval()
    found = counted(lambda: unet(*_unet_inputs(torch.device("cpu"))))
    assert found["softmax"] == 0 and found["sdpa"] > 0, found


def test_the_vae_whisper_and_clip_attend_through_sdpa(tiny_models: Path) -> None:
    from sonic_ext.sonic.loading import load_models

    models = load_models(tiny_models, device="cpu", dtype=torch.float32, offload="none")
    vae = counted(lambda: models.vae.decode(torch.zeros(2, 4, 8, 8), num_frames=2))
    assert vae == {"sdpa": 1, "softmax": 0}
    encoders = {"whisper": counted(lambda: models.whisper.encoder(torch.zeros(1, 80, 3000))),
                "clip": counted(lambda: models.image_encoder(torch.zeros(1, 3, 224, 224)))}
    if not SDPA_IN_TRANSFORMERS:
        pytest.skip(f"transformers {transformers.__version__} has no SDPA attention for "
                    f"whisper and CLIP (explicit softmax: {encoders})")
    for name, found in encoders.items():
        assert found["softmax"] == 0 and found["sdpa"] > 0, (name, found)
