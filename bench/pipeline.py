"""Sonic pipeline speed and memory: ours against a naive run of the official schedule.

Both runs use the same weights, inputs and seed in one process. The baseline follows the
official code naively: every window as one batch of 75 latent frames (3 CFG rows x 25) and the
whole video decoded and interpolated at once, kept in memory; ours streams decode ->
interpolate -> consumer chunk by chunk. Prints seconds per second of video, UNet calls per
second and peak memory (CUDA: allocated; CPU: resident set growth), and the ratios.

With `--offload`, ours also runs with each listed offload mode (GPU only: on the CPU offload is
a no-op). `--full-size` writes random weights at the official sizes (about 8 GB) once, for a GPU
run of the real architecture when the real weights cannot be had.

    .venv/bin/python bench/pipeline.py                       # tiny weights on CPU
    .venv/bin/python bench/pipeline.py --full-size --device cuda --seconds 10 --steps 25 \
        --min-resolution 512 --offload model,sequential
    .venv/bin/python bench/pipeline.py --models DIR --device cuda --dtype fp16 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from sonic_ext.contracts import GenerationParams
from sonic_ext.progress import ProgressEvent
from sonic_ext.sonic.loading import load_models
from sonic_ext.sonic.pipeline import PipelineSettings, generate_frames
from sonic_ext.sonic.tiny import make_tiny_tree

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
PORTRAIT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faces" / "obama.jpg"
FACE_BOX = [300.0, 250.0, 300.0, 380.0]  # obama.jpg, [x, y, w, h]


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def speech(path: Path, seconds: float) -> Path:
    rate = 16_000
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(i / 9) * math.sin(i / 900)))
                                 for i in range(int(seconds * rate))))
    return path


def run(models, audio: Path, settings: PipelineSettings, consume: Callable) -> dict[str, float]:
    calls: list[float] = []

    def progress(event: ProgressEvent) -> None:
        if event.stage == "denoise":
            calls.append(time.perf_counter())

    cuda = models.residency.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    frames = consume(generate_frames(models, Image.open(PORTRAIT).convert("RGB"), FACE_BOX,
                                     audio, settings, progress=progress))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": frames, "unet_calls": len(calls),
            "unet_calls_per_s": (len(calls) - 1) / (calls[-1] - calls[0]) if len(calls) > 1
            else float("nan"),
            "peak_bytes": torch.cuda.max_memory_allocated() if cuda else None}


def streamed(chunks) -> int:
    """What the product does: each chunk goes on (to the watermark and encoder), then is freed."""
    return sum(chunk.to("cpu", torch.float32).mul(255).to(torch.uint8).shape[0]
               for chunk in chunks)


def whole_video(chunks) -> int:
    """The naive way: the whole video as one tensor on the device before anything else."""
    video = torch.cat(list(chunks))
    return video.shape[0]


BASELINE = "baseline (whole-video decode)"
VARIANTS = {  # name: (decode chunk size, consumer, offload mode)
    BASELINE: (10_000, whole_video, "none"),
    "ours (streamed)": (None, streamed, "none"),
    "ours, offload model": (None, streamed, "model"),
    "ours, offload sequential": (None, streamed, "sequential"),
}


def measure(args: argparse.Namespace, variant: str) -> dict[str, float]:
    """One variant in this process: load, warm up, then the measured run."""
    dtype = DTYPES[args.dtype]
    chunk, consume, offload = VARIANTS[variant]
    settings = PipelineSettings(GenerationParams(
        steps=args.steps, min_resolution=args.min_resolution,
        **({"decode_chunk_size": chunk} if chunk else {})))
    with tempfile.TemporaryDirectory() as scratch:
        models_dir = args.models or make_tiny_tree(Path(scratch) / "tiny", seed=0)
        models = load_models(models_dir, device=args.device, dtype=dtype, offload=offload)
        audio = speech(Path(scratch) / "speech.wav", args.seconds)
        loaded = rss_bytes()
        run(models, audio, settings, consume)  # warm-up: kernels, allocator, caches
        result = run(models, audio, settings, consume)
    if result["peak_bytes"] is None:  # CPU: the peak resident set above the loaded models
        result["peak_bytes"] = peak_rss_bytes() - loaded
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="models folder (default: a tiny test tree)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=DTYPES, default=None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--min-resolution", type=int, default=128)
    parser.add_argument("--offload", default="", metavar="MODES",
                        help="also run ours with these offload modes, e.g. model,sequential")
    parser.add_argument("--full-size", action="store_true",
                        help="random weights at the official sizes instead of the tiny tree")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dtype = args.dtype or ("fp16" if args.device.startswith("cuda") else "fp32")
    if args.variant:  # child process: one variant, JSON on stdout
        print(json.dumps(measure(args, args.variant)))
        return
    offloads = [m for m in args.offload.split(",") if m]
    chosen = [v for v, (_, _, mode) in VARIANTS.items() if mode == "none" or mode in offloads]
    with tempfile.TemporaryDirectory() as scratch:
        argv = [a for a in sys.argv[1:] if a != "--full-size"]
        if args.full_size and not args.models:
            print("writing full-size random weights ...", file=sys.stderr, flush=True)
            argv += ["--models", str(make_tiny_tree(Path(scratch) / "full", full_size=True))]
        # Each variant in a fresh process, so none inherits another's memory peak.
        results = {}
        for variant in chosen:
            child = subprocess.run([sys.executable, __file__, *argv, "--variant", variant],
                                   capture_output=True, text=True, check=True)
            results[variant] = json.loads(child.stdout.strip().splitlines()[-1])
    base = results[BASELINE]
    print(f"device {args.device}, {args.dtype}, {args.seconds:g} s of audio, {args.steps} steps, "
          f"min resolution {args.min_resolution}, "
          f"models {args.models or ('full-size random' if args.full_size else 'tiny test tree')}")
    print(f"{'run':<30} {'s per s of video':>17} {'UNet calls/s':>13} {'peak MiB':>9} "
          f"{'speed x':>8} {'memory x':>9}")
    for name, r in results.items():
        print(f"{name:<30} {r['seconds'] / args.seconds:>17.3f} {r['unet_calls_per_s']:>13.2f} "
              f"{r['peak_bytes'] / 2**20:>9.1f} {base['seconds'] / r['seconds']:>8.2f} "
              f"{base['peak_bytes'] / max(r['peak_bytes'], 1):>9.2f}")


if __name__ == "__main__":
    main()
