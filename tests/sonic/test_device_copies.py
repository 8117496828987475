"""The denoising loop runs on the execution device alone: no tensor crosses between host and
device inside it (each crossing stalls the GPU until the copy is done).

No GPU here, so the execution device is `meta` (and CUDA too where there is one): the loop's
inputs are moved there first, then a dispatch mode watches every operation of the whole loop,
every step and window, for a copy between devices or a computation handed a host tensor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode

from sonic_ext.contracts import GenerationParams

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
DEVICES = ["meta", *(["cuda"] if torch.cuda.is_available() else [])]


class Crossings(TorchDispatchMode):
    """Every operation whose tensors are not all on one device (0-d host scalars, which CUDA
    kernels take as arguments, excepted): a copy whose source and result differ, or a kernel
    handed a host tensor. Work on the host alone (a few scalars) is not a crossing."""

    COPIES = ("aten._to_copy.", "aten.copy_.", "aten.to.")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        operands = [*args, *(kwargs or {}).values()]
        tensors = [t for a in operands for t in (a if isinstance(a, (list, tuple)) else [a])
                   if isinstance(t, torch.Tensor) and not (t.device.type == "cpu" and t.dim() == 0)]
        results = [t for t in (out if isinstance(out, (list, tuple)) else [out])
                   if isinstance(t, torch.Tensor)]
        devices = {t.device.type for t in tensors + results}
        if str(func).startswith(self.COPIES):  # a host scalar sent over counts here
            devices |= {a.device.type for a in args if isinstance(a, torch.Tensor)}
        if len(devices) > 1:
            self.seen.append(f"{func} on {sorted(devices)}")
        return out


@contextmanager
def _syncs_raise(device: str) -> Iterator[None]:
    """On CUDA, also any operation that makes the host wait for the GPU (a copy from pageable
    memory, reading a value back) raises."""
    if device != "cuda":
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _on(value: object, device: str) -> object:
    """A dataclass of tensors with every tensor moved to `device`."""
    return replace(value, **{f.name: getattr(value, f.name).to(device) for f in fields(value)
                             if isinstance(getattr(value, f.name), torch.Tensor)})


@pytest.mark.parametrize("device", DEVICES)
def test_the_denoising_loop_moves_nothing_between_host_and_device(
        tiny_models: Path, tmp_path: Path, device: str) -> None:
    """What crosses is sent once before the loop (the windows' frame indices and the
    timesteps): twice the steps, and so twice the windows, cross no more."""
    from sonic_ext.sonic.loading import load_models
    from sonic_ext.sonic.pipeline import PipelineSettings, condition
    from sonic_ext.sonic.sampling import Schedule, denoise
    from tests.conftest import write_tone_wav

    models = load_models(tiny_models, device="cpu", dtype=torch.float32)
    settings = PipelineSettings(GenerationParams(steps=2, min_resolution=256, seed=0))
    # 3 s: more frames than one window, so the loop shifts windows between steps
    conditioned = condition(models, Image.open(FACES / "obama.jpg").convert("RGB"),
                            [300.0, 250.0, 300.0, 380.0],
                            write_tone_wav(tmp_path / "s.wav", seconds=3.0), settings)
    unet = models.unet.to(device)
    face_mask = conditioned.face_mask.to(device)
    cond, latents = _on(conditioned.cond, device), conditioned.latents.to(device)
    assert latents.shape[1] > settings.windows.frames

    def unet_call(*args: torch.Tensor) -> torch.Tensor:
        return unet(*args, face_mask)

    crossed = {}
    for steps in (1, 2):
        schedule = Schedule.from_scheduler_config(models.scheduler_config, steps)
        with torch.inference_mode(), Crossings() as crossings, _syncs_raise(device):
            out = denoise(latents, cond, unet_call, schedule, settings.guidance,
                          settings.windows)
        assert out.device.type == device
        crossed[steps] = crossings.seen
    assert len(crossed[2]) == len(crossed[1]) <= 2, crossed


def test_every_step_of_the_pipeline_runs_on_a_device_that_is_not_the_host(
        tiny_models: Path, tmp_path: Path) -> None:
    """Conditioning, denoising, decoding and interpolation with every model on `meta`, which
    refuses any mixing with host tensors as CUDA does: a step that would fail on a GPU fails
    here (the fps conditioning once stacked a host tensor with device ones)."""
    from sonic_ext.sonic.loading import load_models
    from sonic_ext.sonic.pipeline import PipelineSettings, generate_frames
    from tests.conftest import write_tone_wav

    models = load_models(tiny_models, device="meta", dtype=torch.float32)
    chunks = list(generate_frames(models, Image.open(FACES / "obama.jpg").convert("RGB"),
                                  [300.0, 250.0, 300.0, 380.0],
                                  write_tone_wav(tmp_path / "s.wav", seconds=1.0),
                                  PipelineSettings(GenerationParams(steps=1,
                                                                    min_resolution=256))))
    assert {c.device.type for c in chunks} == {"meta"}
    assert sum(c.shape[0] for c in chunks) == 2 * 12 - 1  # 1 s: 12 frames, doubled by RIFE
