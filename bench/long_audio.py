"""Long audio: clips of 1, 3 and 10 minutes through the whole product (gate, generation,
watermark, C2PA signing, publish, verify), each in its own process, with that process's peak
resident memory, and a straight-line fit of peak memory against length.

The claim it checks: memory grows with length only by what must be held for the whole clip,
the latents and audio conditioning (measured in the run: the tensors `condition` returns and the
final latents), while frames, watermark and encoder are streamed. The fit's slope is printed
beside that per-minute size, as a ratio.

Tiny test weights on the CPU at the smallest settings (1 step, 256 px: the watermark needs 256),
on an otherwise idle machine:

    .venv/bin/python bench/long_audio.py [--minutes 1 3 10] [--resolution 256]

Slow on a CPU: on 2 cores shared with other work, 10 minutes of speech took 65 minutes, 3
minutes 23 and 1 minute 12 (the tiny UNet's windows and VAE decode), so allow 1.5 hours.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # bench.installation
MIB = 1024 * 1024


def long_speech(path: Path, seconds: float) -> Path:
    """The product's 60 s speech-like sample, repeated to `seconds`."""
    from sonic_ext.media.sample_audio import write_sample_speech

    sample = write_sample_speech(path.with_name("sample.wav"), 60.0)
    with wave.open(str(sample), "rb") as wav:
        rate, pcm = wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    total = int(seconds * rate)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.resize(pcm, total).tobytes())
    return path


def tensor_bytes(value: object) -> int:
    """Bytes of every tensor reachable through dataclass fields, tuples and lists (an expanded
    view counts as the storage it would take when made contiguous, as the UNet's inputs are)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if is_dataclass(value):
        return sum(tensor_bytes(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def vm_peak_bytes() -> int:
    """This process's peak resident set (VmHWM), not inherited from a parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def one_length(seconds: float, resolution: int, interpolate: bool,
               work: Path) -> dict[str, float | str]:
    """Generate, sign, publish and verify one clip of `seconds` in this process."""
    from bench.installation import PORTRAIT, PURPOSE, consented_service
    from sonic_ext import GenerateRequest, GenerationParams
    from sonic_ext.sonic import pipeline

    held = {"conditioning": 0, "latents": 0}
    condition, denoise = pipeline.condition, pipeline.denoise_video

    def counted_condition(*args, **kwargs):
        conditioned = condition(*args, **kwargs)
        held["conditioning"] = tensor_bytes(conditioned)
        return conditioned

    def counted_denoise(*args, **kwargs):
        latents = denoise(*args, **kwargs)
        held["latents"] = tensor_bytes(latents)
        return latents

    pipeline.condition, pipeline.denoise_video = counted_condition, counted_denoise
    service, consent = consented_service(work)
    speech = long_speech(work / "speech.wav", seconds)
    out = work / "long.mp4"
    start = time.monotonic()
    result = service.generate(GenerateRequest(
        PORTRAIT, speech, out, PURPOSE,
        GenerationParams(steps=1, seed=0, min_resolution=resolution, interpolate=interpolate),
        consent_ids=(consent,)))
    generated = time.monotonic() - start
    report = service.verify(result.out)
    return {"seconds": seconds, "generate_s": generated, "peak_bytes": vm_peak_bytes(),
            "held_bytes": held["conditioning"] + held["latents"], "verdict": report.verdict,
            "mp4_bytes": result.out.stat().st_size}


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    return float(intercept), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--interpolate", action="store_true",
                        help="double the frame rate with RIFE (off: the smallest settings)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        work = Path(tempfile.mkdtemp(prefix="sonic-bench-long-"))
        try:
            print(json.dumps(one_length(args.child, args.resolution, args.interpolate, work)),
                  flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    rows = []
    for minutes in args.minutes:
        done = subprocess.run([sys.executable, __file__, "--child", str(minutes * 60),
                               "--resolution", str(args.resolution),
                               *(["--interpolate"] if args.interpolate else [])],
                              capture_output=True, text=True, cwd=REPO, check=False)
        if done.returncode:
            sys.exit(f"{minutes:g} min failed:\n{done.stderr[-4000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{minutes:5.1f} min: generated in "
              f"{row['generate_s']:.0f} s, peak RSS {row['peak_bytes'] / MIB:.0f} MiB, "
              f"latents + conditioning {row['held_bytes'] / MIB:.1f} MiB, "
              f"verify: {row['verdict']}", flush=True)
    if len(rows) > 1:
        minutes = [r["seconds"] / 60 for r in rows]
        base, slope = fit(minutes, [r["peak_bytes"] / MIB for r in rows])
        _, held = fit(minutes, [r["held_bytes"] / MIB for r in rows])
        print(f"\nfit: peak RSS = {base:.0f} MiB + {slope:.1f} MiB per minute; latents + "
              f"conditioning {held:.1f} MiB per minute; ratio {slope / held:.2f}")


if __name__ == "__main__":
    main()
