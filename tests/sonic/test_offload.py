"""Offload moves weights to the execution device only while they are needed.

No GPU here, so the execution device in these tests is `meta`, and a dispatch mode watches every
operation: one that is handed a tensor still in CPU memory is what would fail (or crawl) on a
GPU. After a visit, every parameter must point at its original CPU storage again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.utils._python_dispatch import TorchDispatchMode

from sonic_ext.contracts import GenerationParams
from sonic_ext.sonic.offload import Residency, visit, visit_layer_by_layer
from sonic_ext.sonic.stage import Placement
from sonic_ext.sonic.unet import SonicUNet

META = torch.device("meta")
CASE_A = Path(__file__).resolve().parents[1] / "fixtures" / "sonic_golden" / "case_a"


def _storage(module: nn.Module) -> dict[str, int]:
    return {name: t.data_ptr() for name, t in module.state_dict(keep_vars=True).items()}


def _tiny_unet() -> SonicUNet:
    config = json.loads((CASE_A / "weights" / "unet_config.json").read_text())
    return SonicUNet.from_unet_config(config, 4)


def _unet_inputs(device: torch.device) -> tuple[torch.Tensor, ...]:
    frames, size, width = 25, 8, 32
    return (torch.zeros(1, frames, 8, size, size, device=device),
            torch.ones(1, device=device),
            torch.zeros(frames, 1, width, device=device),
            torch.zeros(frames, 4, width, device=device),
            torch.zeros(1, 3, device=device),
            torch.ones(1, 1, size * 8, size * 8, device=device))


class CpuOperands(TorchDispatchMode):
    """Records every computation that receives a tensor in CPU memory. Copies are how weights
    travel, and 0-d CPU scalars (the face-mask rounding) are legal beside CUDA tensors."""

    TRANSFERS = ("aten.to.", "aten._to_copy.", "aten.copy_.")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        operands = [*args, *(kwargs or {}).values()]
        flat = [t for a in operands for t in (a if isinstance(a, (list, tuple)) else [a])]
        if not str(func).startswith(self.TRANSFERS) and any(
                isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.dim() > 0
                for t in flat):
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


class ReachesIntoChild(nn.Module):
    """A parent that uses its child's weight directly, as a layer hook cannot see."""

    def __init__(self) -> None:
        super().__init__()
        self.child = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.linear(x, self.child.weight)


def test_offload_is_meaningless_on_the_cpu_and_rests_models_by_mode() -> None:
    assert Residency.for_device("cpu", "sequential").mode == "none"
    gpu = Residency(torch.device("cuda"), "none")
    assert gpu.home_of("unet") == torch.device("cuda")
    assert gpu.home_of("image_encoder") == torch.device("cpu")  # visits for its stage only
    for mode in ("model", "sequential"):
        assert Residency(torch.device("cuda"), mode).home_of("unet") == torch.device("cpu")
    with pytest.raises(ValueError, match="offload mode"):
        Residency(torch.device("cuda"), "disk")


def test_a_placement_on_the_cpu_drops_offload() -> None:
    placement = Placement.resolve(GenerationParams(device="cpu", offload="model"))
    assert (placement.device, placement.offload) == ("cpu", "none")


def test_a_stage_visit_moves_weights_and_points_them_back() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    before, params = _storage(model), list(model.parameters())
    with Residency(META, "model").stage(model):
        assert {p.device for p in model.parameters()} == {META}
        assert model(torch.zeros(3, 4, device=META)).shape == (3, 2)
    assert _storage(model) == before and list(model.parameters()) == params
    with pytest.raises(RuntimeError, match="expected device meta"):
        model(torch.zeros(3, 4, device=META))  # resting weights are not on the device


def test_a_restore_is_idempotent() -> None:
    model = nn.Linear(2, 2)
    before = _storage(model)
    restore = visit(model, META)
    restore()
    restore()
    assert _storage(model) == before


def test_the_unet_runs_layer_by_layer_with_its_weights_resting_in_cpu_memory() -> None:
    unet = _tiny_unet()
    before = _storage(unet)
    visit_layer_by_layer(unet, META)
    with torch.inference_mode(), CpuOperands() as watch:
        out = unet(*_unet_inputs(META))
    assert watch.seen == []
    assert out.device == META and tuple(out.shape) == (1, 25, 4, 8, 8)
    assert _storage(unet) == before  # every weight back at its CPU original
    with Residency(META, "sequential").stage(unet):  # a stage does not move a hooked model
        assert {p.device.type for p in unet.parameters()} == {"cpu"}


def test_layer_hooks_cannot_serve_a_parent_that_reaches_into_its_child() -> None:
    """Why only the UNet (whose forward we wrote) is offloaded layer by layer."""
    model = ReachesIntoChild()
    visit_layer_by_layer(model, META)
    with CpuOperands() as watch:
        model(torch.zeros(1, 4, device=META))
    assert "aten.mm.default" in watch.seen  # the matmul met the resting CPU weight


def test_offloaded_and_resident_unets_compute_the_same() -> None:
    torch.manual_seed(0)
    resident = _tiny_unet()
    hooked = _tiny_unet()
    hooked.load_state_dict(resident.state_dict())
    visit_layer_by_layer(hooked, torch.device("cpu"))
    inputs = [torch.randn_like(t) if t.dtype.is_floating_point else t
              for t in _unet_inputs(torch.device("cpu"))]
    with torch.inference_mode():
        torch.testing.assert_close(hooked(*inputs), resident(*inputs), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mode", ["model", "sequential"])
def test_offload_on_cuda_gives_the_same_frames_in_less_memory(tiny_models: Path, mode: str
                                                               ) -> None:
    from PIL import Image

    from sonic_ext.sonic.loading import load_models
    from sonic_ext.sonic.pipeline import PipelineSettings, generate_frames
    from tests.conftest import write_tone_wav

    speech = write_tone_wav(tiny_models.parent / "offload.wav", seconds=2.0)
    portrait = Image.open(Path(__file__).resolve().parents[1] / "fixtures" / "faces" /
                          "obama.jpg").convert("RGB")
    settings = PipelineSettings(GenerationParams(steps=2, min_resolution=256, seed=0))
    frames, peaks = {}, {}
    resting = torch.cuda.memory_allocated()
    for offload in ("none", mode):
        torch.cuda.reset_peak_memory_stats()
        models = load_models(tiny_models, device="cuda", dtype=torch.float32, offload=offload)
        frames[offload] = torch.cat([c.cpu() for c in generate_frames(
            models, portrait, [300.0, 250.0, 300.0, 380.0], speech, settings)])
        peaks[offload] = torch.cuda.max_memory_allocated()
        del models
        torch.cuda.empty_cache()
        assert torch.cuda.memory_allocated() == resting  # nothing left on the GPU
    torch.testing.assert_close(frames[mode], frames["none"], atol=1e-4, rtol=0)
    assert peaks[mode] < peaks["none"]
