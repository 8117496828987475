"""The GPU memory estimate: counted on the meta device, checked against what really runs on the
CPU (the same tensors, and the process's own peak memory), and the offload choice made from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from sonic_ext.contracts import GenerationParams
from sonic_ext.errors import OutOfMemory
from sonic_ext.sonic import memory
from sonic_ext.sonic.memory import (
    GIB,
    Architecture,
    MemoryEstimate,
    Shapes,
    choose_offload,
    estimates,
    held_bytes,
    largest_visit,
    working_set,
)
from sonic_ext.sonic.unet import SonicUNet

REPO = Path(__file__).resolve().parents[2]
CASE_A = REPO / "tests" / "fixtures" / "sonic_golden" / "case_a"
FACES = REPO / "tests" / "fixtures" / "faces"


def _unet_call(device: str, side: int, frames: int = 25):
    config = json.loads((CASE_A / "weights" / "unet_config.json").read_text())
    unet = SonicUNet.from_unet_config(config, 4).to(device)
    width = config["cross_attention_dim"]

    def call() -> None:
        rows = 3 * frames
        unet(torch.zeros(3, frames, 8, side, side, device=device), torch.ones(1, device=device),
             torch.zeros(rows, 1, width, device=device), torch.zeros(rows, 4, width, device=device),
             torch.zeros(3, 3, device=device), torch.ones(1, 1, side * 8, side * 8, device=device))
    return call


def test_the_meta_count_is_the_working_set_that_runs_on_the_cpu() -> None:
    """The meta device allocates nothing, yet counts what a real run holds: the same forward on
    the CPU (its own flash attention kernel, real tensors) peaks at the same bytes."""
    on_cpu = working_set(_unet_call("cpu", 16), flash=False)
    on_meta = working_set(_unet_call("meta", 16))
    assert on_cpu > 20 * 2**20
    assert on_meta == pytest.approx(on_cpu, rel=0.01)


def test_the_count_matches_the_process_peak_memory(tmp_path: Path) -> None:
    """In a fresh process whose allocator returns freed blocks (every block mmapped), the peak
    resident memory of one UNet call is the counted working set plus a fixed amount for the
    libraries' own buffers."""
    script = tmp_path / "peak.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys, torch
        sys.path.insert(0, {str(REPO)!r})
        from tests.sonic.test_memory import _unet_call
        from sonic_ext.sonic.memory import working_set

        def status(key):
            return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                        if line.startswith(key))

        torch.set_num_threads(1)
        call = _unet_call("cpu", 24)
        open("/proc/self/clear_refs", "w").write("5")
        base = status("VmRSS:")
        with torch.inference_mode():
            call()
        grown = status("VmHWM:") - base
        print(json.dumps({{"grown": grown, "counted": working_set(call, flash=False)}}))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={"MALLOC_MMAP_THRESHOLD_": "65536", "PATH": "/usr/bin:/bin"},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["counted"] > 100 * 2**20
    assert seen["counted"] <= seen["grown"] <= 1.1 * seen["counted"] + 100 * 2**20, seen


def test_the_clip_long_tensors_are_what_conditioning_holds(tiny_models: Path,
                                                           tmp_path: Path) -> None:
    """held_bytes, from shapes alone, against the tensors a real run keeps for the whole clip:
    the conditioning for guidance, the adapters' tokens, whisper's features, and the latents
    three times over (the latents, the loop's running sum and its result)."""
    from sonic_ext.sonic.loading import load_models
    from sonic_ext.sonic.pipeline import PipelineSettings, condition
    from tests.conftest import write_tone_wav

    seconds = 4.0
    models = load_models(tiny_models, device="cpu", dtype=torch.float32)
    conditioned = condition(models, Image.open(FACES / "obama.jpg").convert("RGB"),
                            [300.0, 250.0, 300.0, 380.0],
                            write_tone_wav(tmp_path / "s.wav", seconds=seconds),
                            PipelineSettings(GenerationParams(steps=1, min_resolution=256)))
    kept = [*(getattr(conditioned.cond, f.name) for f in fields(conditioned.cond)
              if isinstance(getattr(conditioned.cond, f.name), torch.Tensor)),
            conditioned.audio.tokens_cond, conditioned.audio.tokens_uncond,
            *(getattr(conditioned.features, f.name) for f in fields(conditioned.features)),
            *[conditioned.latents] * 3]
    real = sum(t.numel() * t.element_size() for t in kept if isinstance(t, torch.Tensor))
    _, _, h, w = conditioned.reference.ref_latents.shape
    shapes = Shapes(h, w, seconds, torch.float32)
    assert shapes.frames == conditioned.latents.shape[1]
    assert held_bytes(Architecture.of(tiny_models), shapes) == pytest.approx(real, rel=0.05)


def test_sequential_offload_holds_a_layer_and_its_enclosing_modules() -> None:
    inner = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 100))  # 440 and 4400 bytes
    outer = nn.Sequential(inner, nn.Linear(100, 1))
    outer.register_buffer("scale", torch.ones(25))  # 100 bytes of its own
    assert largest_visit(outer) == 100 + 4400


def test_the_official_estimate_orders_the_modes_and_grows_with_length_and_size() -> None:
    arch = Architecture.official()
    ten_s = {e.mode: e for e in estimates(arch, Shapes(64, 64, 10.0, torch.bfloat16))}
    assert ten_s["sequential"].total < ten_s["model"].total < ten_s["none"].total
    assert ten_s["none"].stage == "denoising"
    # the UNet's 1.5 B parameters in bf16, and its working set at 512 px (linear in pixels)
    assert 2.9 * GIB < ten_s["model"].weights < 3.3 * GIB
    at_1024 = estimates(arch, Shapes(128, 128, 10.0, torch.bfloat16))[0]
    assert at_1024.working == pytest.approx(4 * ten_s["none"].working, rel=0.05)
    ten_min = estimates(arch, Shapes(64, 64, 600.0, torch.bfloat16))[0]
    assert ten_min.held > 30 * ten_s["none"].held
    assert ten_min.working == ten_s["none"].working  # one window at a time, whatever the length
    assert "about" in ten_s["model"].describe() and "offload model" in ten_s["model"].describe()


def _estimate(mode: str, gib: float) -> MemoryEstimate:
    allocated = int((gib * GIB - memory.CUDA_OVERHEAD) / (1 + memory.SLACK))
    return MemoryEstimate(mode, "denoising", allocated, 0, 0)


CANDIDATES = [_estimate("none", 11.0), _estimate("model", 9.0), _estimate("sequential", 6.0)]


@pytest.mark.parametrize(("free_gib", "mode"), [(24, "none"), (10, "model"), (7, "sequential")])
def test_auto_takes_the_least_offload_that_fits(free_gib: float, mode: str) -> None:
    assert choose_offload(CANDIDATES, "auto", int(free_gib * GIB), 80 * GIB) == mode


def test_auto_refuses_when_nothing_fits_and_says_what_it_needs() -> None:
    with pytest.raises(OutOfMemory, match=r"about 6\.0 GB with offload sequential.*4\.0 GB free"):
        choose_offload(CANDIDATES, "auto", 4 * GIB, 8 * GIB)


def test_an_explicit_mode_is_refused_only_when_it_cannot_fit_the_card() -> None:
    assert choose_offload(CANDIDATES, "none", 2 * GIB, 12 * GIB) == "none"  # others may free it
    with pytest.raises(OutOfMemory, match=r"offload none needs about 11\.0 GB \(peak while "
                                          r"denoising\), more than this GPU's 8\.0 GB") as refused:
        choose_offload(CANDIDATES, "none", 8 * GIB, 8 * GIB)
    assert "--offload auto: it picks sequential, about 6.0 GB" in refused.value.hint


def test_a_gpu_generation_gets_the_mode_auto_chose(tiny_models: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage resolves `auto` before loading anything (a CUDA card stands in: its free
    memory is all the stage asks of it)."""
    from sonic_ext.sonic.stage import Placement, SonicStage

    monkeypatch.setattr(Placement, "resolve",
                        classmethod(lambda cls, params: cls("cuda", torch.float16,
                                                            params.offload)))
    monkeypatch.setattr(memory, "cuda_budget", lambda: (2 * GIB, 80 * GIB))
    stage = SonicStage(tiny_models)
    chosen = stage.placement(GenerationParams(offload="auto"), (256, 256), 10.0)
    assert chosen.offload == "none" and stage._loaded is None  # tiny weights fit
    monkeypatch.setattr(memory, "cuda_budget", lambda: (int(0.1 * GIB), int(0.1 * GIB)))
    with pytest.raises(OutOfMemory, match="GB free"):
        stage.placement(GenerationParams(offload="auto"), (256, 256), 10.0)
