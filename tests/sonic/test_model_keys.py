"""`models keys`: the full-size modules' layout equals the official checkpoints' exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sonic_ext.adapters import cli
from sonic_ext.sonic.components import COMPONENTS

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "sonic_state_dict"
REFERENCE_FILE = {"unet": "sonic_unet.json", "audio2token": "audio2token.json",
                  "audio2bucket": "audio2bucket.json", "rife": "rife_ifnet.json"}


def test_cli_offers_every_component() -> None:
    assert set(cli.COMPONENTS) == set(COMPONENTS)


@pytest.mark.parametrize("component", COMPONENTS)
def test_keys_shapes_and_order_equal_the_reference(component: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--home", str(tmp_path), "models", "keys", "--component", component,
                     "--json"])
    assert code == 0
    ours = json.loads(capsys.readouterr().out)["keys"]
    assert ours == json.loads((REFERENCE / REFERENCE_FILE[component]).read_text())


def test_full_size_test_trees_use_the_official_stock_model_sizes() -> None:
    """`make-tiny --full-size` (the GPU benchmark's weights): the key and parameter counts of
    SVD-xt's VAE and CLIP and of whisper-tiny (research/sonic.md §3.6)."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import (
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
        WhisperConfig,
        WhisperModel,
    )

    from sonic_ext.sonic.tiny import FULL

    with torch.device("meta"):
        vae = AutoencoderKLTemporalDecoder(**FULL.vae)
        clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**FULL.clip))
        whisper = WhisperModel(WhisperConfig(**FULL.whisper))

    def counts(module: torch.nn.Module, prefix: str = "") -> tuple[int, float]:
        entries = {k: v for k, v in module.state_dict().items() if k.startswith(prefix)
                   and not k.endswith("embeddings.position_ids")}  # a buffer in old transformers
        return len(entries), round(sum(v.numel() for v in entries.values()) / 1e6, 1)

    assert counts(vae) == (374, 97.7)
    assert counts(clip) == (520, 632.1)
    assert len(whisper.state_dict()) == 167 and counts(whisper, "encoder.") == (67, 8.2)
