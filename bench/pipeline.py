"""Sonic pipeline speed and memory: ours against a naive run of the official schedule.

Both runs use the same weights, inputs and seed in one process. The baseline follows the
official code naively: every window as one batch of 75 latent frames (3 CFG rows x 25) and the
whole video decoded and interpolated at once, kept in memory; ours streams decode ->
interpolate -> consumer chunk by chunk. Prints seconds per second of video, UNet calls per
second and peak memory (CUDA: allocated; CPU: resident set growth), and the ratios.

    .venv/bin/python bench/pipeline.py                       # tiny weights on CPU
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

    cuda = next(models.unet.parameters()).device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    frames = consume(generate_frames(models, Image.open(PORTRAIT).convert("RGB"), FACE_BOX,
                                     audio, settings, progress=progress))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": frames, "unet_calls": len(calls),
            "unet_calls_per_s": (len(calls) - 1) / (calls[-1] - calls[0]),
            "peak_bytes": torch.cuda.max_memory_allocated() if cuda else None}


def streamed(chunks) -> int:
    """What the product does: each chunk goes on (to the watermark and encoder), then is freed."""
    return sum(chunk.to("cpu", torch.float32).mul(255).to(torch.uint8).shape[0]
               for chunk in chunks)


def whole_video(chunks) -> int:
    """The naive way: the whole video as one tensor on the device before anything else."""
    video = torch.cat(list(chunks))
    return video.shape[0]


VARIANTS = {
    "baseline (whole-video decode)": (10_000, whole_video),
    "ours (streamed)": (None, streamed),
}


def measure(args: argparse.Namespace, variant: str) -> dict[str, float]:
    """One variant in this process: load, warm up, then the measured run."""
    dtype = DTYPES[args.dtype]
    chunk, consume = VARIANTS[variant]
    settings = PipelineSettings(steps=args.steps, min_resolution=args.min_resolution,
                                **({"decode_chunk_size": chunk} if chunk else {}))
    with tempfile.TemporaryDirectory() as scratch:
        models_dir = args.models or make_tiny_tree(Path(scratch) / "tiny", seed=0)
        models = load_models(models_dir, device=args.device, dtype=dtype)
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
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dtype = args.dtype or ("fp16" if args.device.startswith("cuda") else "fp32")
    if args.variant:  # child process: one variant, JSON on stdout
        print(json.dumps(measure(args, args.variant)))
        return
    # Each variant in a fresh process, so neither inherits the other's memory peak.
    results = {}
    for variant in VARIANTS:
        child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant],
                               capture_output=True, text=True, check=True)
        results[variant] = json.loads(child.stdout.strip().splitlines()[-1])
    base = results["baseline (whole-video decode)"]
    print(f"device {args.device}, {args.dtype}, {args.seconds:g} s of audio, {args.steps} steps, "
          f"min resolution {args.min_resolution}, "
          f"models {args.models or 'tiny test tree'}")
    print(f"{'run':<30} {'s per s of video':>17} {'UNet calls/s':>13} {'peak MiB':>9} "
          f"{'speed x':>8} {'memory x':>9}")
    for name, r in results.items():
        print(f"{name:<30} {r['seconds'] / args.seconds:>17.3f} {r['unet_calls_per_s']:>13.2f} "
              f"{r['peak_bytes'] / 2**20:>9.1f} {base['seconds'] / r['seconds']:>8.2f} "
              f"{base['peak_bytes'] / max(r['peak_bytes'], 1):>9.2f}")


if __name__ == "__main__":
    main()
