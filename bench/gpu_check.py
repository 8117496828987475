"""The GPU check: Sonic's real architecture (random weights at the official sizes) on a CUDA card,
per precision and offload mode: seconds per second of video, peak GPU memory beside the estimate
`offload auto` decides by (sonic/memory.py), and MFU against the FLOPs of one UNet call (counted
with torch's FLOP counter: 85.8 TFLOP at 512 px); then the CUDA tests.

Run it through `bench/gpu_check.sh` (which installs what is missing from given wheels):

    bash bench/gpu_check.sh [--wheels DIR]   # a CUDA machine: 10 s at 512 px, 25 steps
    bash bench/gpu_check.sh --dry-run        # any machine: every step at tiny size on the CPU

Each variant runs in its own process (no variant inherits another's memory peak), after a
1-step warm-up on a short clip.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "tests" / "fixtures" / "faces" / "obama.jpg"
FACE_BOX = [300.0, 250.0, 300.0, 380.0]
DTYPES = ("bf16", "fp16")
OFFLOADS = ("none", "model", "sequential")
PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4}  # dense bf16/fp16 tensor-core peak (SXM)
CUDA_TESTS = ["tests/sonic/test_offload.py", "tests/sonic/test_device_copies.py",
              "tests/sonic/test_memory.py",  # and compile_unet against the golden case (heavy):
              "tests/sonic/test_golden_check.py::test_the_compiled_unet_reproduces_every_recorded_tensor"]
GIB = 1024 ** 3


def speech(path: Path, seconds: float) -> Path:
    """A voiced, syllable-shaped tone (the pipeline's speed does not depend on what is said)."""
    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    voice = np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((voice * 12_000).astype("<i2").tobytes())
    return path


def unet_call_flops(models_dir: Path, latent_side: int, frames: int) -> float:
    """FLOPs of one UNet call (3 guidance rows x `frames`), counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sonic_ext.sonic.memory import Architecture
    from sonic_ext.sonic.unet import SonicUNet

    arch = Architecture.of(models_dir)
    meta = torch.device("meta")
    unet = SonicUNet.from_unet_config(arch.unet, arch.audio_tokens, device="meta")
    width, rows = arch.unet["cross_attention_dim"], 3 * frames
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        unet(torch.zeros(3, frames, 8, latent_side, latent_side, device=meta),
             torch.ones(1, device=meta), torch.zeros(rows, 1, width, device=meta),
             torch.zeros(rows, arch.audio_tokens, width, device=meta),
             torch.zeros(3, 3, device=meta),
             torch.ones(1, 1, latent_side * 8, latent_side * 8, device=meta))
    return float(counter.get_total_flops())


def run_variant(args: argparse.Namespace) -> dict[str, float | str]:
    """One precision and offload mode in this process: load, warm up, measure."""
    import torch
    from PIL import Image

    from sonic_ext.contracts import GenerationParams
    from sonic_ext.progress import ProgressEvent
    from sonic_ext.sonic.loading import load_models
    from sonic_ext.sonic.memory import Architecture, Shapes, estimate
    from sonic_ext.sonic.pipeline import PipelineSettings, generate_frames
    from sonic_ext.sonic.stage import DTYPES as TORCH_DTYPES

    dtype = TORCH_DTYPES[args.dtype]
    cuda = args.device == "cuda"
    started = time.perf_counter()
    models = load_models(args.models, device=args.device, dtype=dtype, offload=args.offload)
    loaded = time.perf_counter() - started
    portrait = Image.open(PORTRAIT).convert("RGB")
    calls: list[float] = []

    def progress(event: ProgressEvent) -> None:
        if event.stage == "denoise":
            calls.append(time.perf_counter())

    def run(audio: Path, steps: int) -> tuple[float, int]:
        settings = PipelineSettings(GenerationParams(steps=steps, min_resolution=args.resolution,
                                                     seed=0))
        start = time.perf_counter()
        frames = sum(chunk.shape[0] for chunk in generate_frames(
            models, portrait, FACE_BOX, audio, settings, progress=progress))
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start, frames

    with tempfile.TemporaryDirectory() as scratch:
        run(speech(Path(scratch) / "warm.wav", 1.0), 1)  # kernels, allocator, cuDNN
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        calls.clear()
        seconds, frames = run(speech(Path(scratch) / "speech.wav", args.seconds), args.steps)
    peak = torch.cuda.max_memory_allocated() if cuda else None
    shapes = Shapes(args.resolution // 8, args.resolution // 8, args.seconds, dtype)
    estimated = estimate(Architecture.of(args.models), shapes, args.offload)
    denoise_s = calls[-1] - calls[0] if len(calls) > 1 else float("nan")
    return {"dtype": args.dtype, "offload": args.offload, "load_s": loaded,
            "seconds": seconds, "frames": frames, "unet_calls": len(calls),
            "unet_calls_per_s": (len(calls) - 1) / denoise_s if len(calls) > 1 else float("nan"),
            "peak_bytes": peak, "estimated_allocated": estimated.allocated,
            "estimated_total": estimated.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny weights on the CPU, 1 s, 2 steps, 256 px: checks every step")
    parser.add_argument("--models", type=Path, help="a models folder (default: random weights "
                        "at the official sizes, written once to a scratch folder)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--device", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--offload", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--resolution", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(args)), flush=True)
        return

    import torch

    cuda = torch.cuda.is_available() and not args.dry_run
    if not cuda and not args.dry_run:
        sys.exit("gpu_check: no CUDA GPU visible to this PyTorch "
                 f"({torch.__version__}); use --dry-run to check the steps on the CPU")
    device, seconds, steps, resolution = (("cuda", 10.0, 25, 512) if cuda else
                                          ("cpu", 1.0, 2, 256))
    name = torch.cuda.get_device_name() if cuda else "CPU (dry run)"
    peak_tflops = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    print(f"device: {name}; torch {torch.__version__}; {seconds:g} s of speech at {resolution} "
          f"px, {steps} steps", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        models = args.models
        if models is None:
            from sonic_ext.sonic.tiny import make_tiny_tree

            started = time.perf_counter()
            models = make_tiny_tree(Path(scratch) / "models", full_size=cuda)
            print(f"{'full-size random' if cuda else 'tiny'} weights written in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        flops = unet_call_flops(models, resolution // 8, 25)
        print(f"one UNet call: {flops / 1e12:.2f} TFLOP (3 guidance rows x 25 frames at "
              f"{resolution // 8}x{resolution // 8} latents)", flush=True)
        rows = []
        for dtype in DTYPES:
            for offload in OFFLOADS:
                child = subprocess.run(
                    [sys.executable, __file__, "--child", "--models", str(models),
                     "--device", device, "--dtype", dtype, "--offload", offload,
                     "--seconds", str(seconds), "--steps", str(steps),
                     "--resolution", str(resolution)],
                    capture_output=True, text=True, check=False)
                if child.returncode:
                    print(f"{dtype} offload {offload}: FAILED\n{child.stderr[-3000:]}",
                          flush=True)
                    continue
                row = json.loads(child.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(_line(row, seconds, flops, peak_tflops), flush=True)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            *CUDA_TESTS], cwd=REPO, check=False,
                           env={**os.environ, "SONIC_TEST_HEAVY": "1"})
    failed = len(rows) < len(DTYPES) * len(OFFLOADS) or tests.returncode != 0
    print(f"\ngpu_check: {len(rows)} of {len(DTYPES) * len(OFFLOADS)} variants ran; CUDA tests "
          f"{'passed' if tests.returncode == 0 else 'FAILED'}")
    sys.exit(1 if failed else 0)


def _line(row: dict, seconds: float, flops: float, peak_tflops: float | None) -> str:
    achieved = row["unet_calls_per_s"] * flops / 1e12
    mfu = f"{achieved / peak_tflops:6.1%}" if peak_tflops and math.isfinite(achieved) else "   n/a"
    peak = row["peak_bytes"]
    measured = (f"peak {peak / GIB:6.2f} GiB, estimate {row['estimated_allocated'] / GIB:6.2f} "
                f"GiB (x{peak / row['estimated_allocated']:.2f})" if peak else
                f"peak n/a (CPU), estimate {row['estimated_allocated'] / GIB:6.2f} GiB")
    return (f"{row['dtype']} offload {row['offload']:<10} {row['seconds'] / seconds:7.2f} s per s "
            f"of video, {row['unet_calls_per_s']:6.2f} UNet calls/s ({achieved:7.1f} TFLOP/s, "
            f"MFU {mfu}), {measured}, load {row['load_s']:.0f} s")


if __name__ == "__main__":
    main()
