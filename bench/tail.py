"""The tail of a generation, with and without decoding ahead: the time from the last denoising
step to the published file, when the next chunk of frames is decoded (VAE, RIFE) in a worker
while the one before is watermarked and encoded, against one after the other, in the same run.

Tiny test weights on the CPU: the VAE and RIFE here are small, so the overlap a GPU would give
(its decode running beside the CPU's watermark + encode) shows only in part; the overlap
fraction says how much of the shorter side was hidden.

    .venv/bin/python bench/tail.py [--seconds 4] [--resolution 512] [--runs 2]

At the defaults it takes about 17 minutes on 2 cores (each run about 3: the tiny VAE and RIFE
decode 512 px frames slowly on the CPU); `--resolution 256 --runs 1` takes about 3.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sonic_ext.prefetch as prefetch
from sonic_ext import GenerateRequest, GenerationParams
from sonic_ext.media.sample_audio import write_sample_speech
from sonic_ext.progress import ProgressEvent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.installation import PORTRAIT, PURPOSE, consented_service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--runs", type=int, default=2, help="runs of each, alternating")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sonic-bench-tail-"))
    try:
        service, consent = consented_service(work)
        speech = write_sample_speech(work / "speech.wav", args.seconds)
        params = GenerationParams(steps=1, seed=0, min_resolution=args.resolution)
        overlaps: dict[int, list[prefetch.Overlap]] = {0: [], 2: []}
        tails: dict[int, list[float]] = {0: [], 2: []}
        plain = prefetch.prefetched

        for run in range(args.runs * 2 + 1):  # the first run warms up and is not counted
            depth = 2 if run % 2 else 0
            service.tail_prefetch = depth
            overlap = prefetch.Overlap()
            prefetch.prefetched = lambda make, depth, _o=overlap: plain(make, depth, _o)
            denoised_at = [0.0]

            def seen(event: ProgressEvent) -> None:
                if event.stage == "denoise":
                    denoised_at[0] = time.monotonic()

            out = work / f"run{run}.mp4"
            service.generate(GenerateRequest(PORTRAIT, speech, out, PURPOSE, params,
                                             consent_ids=(consent,)), progress=seen)
            tail = time.monotonic() - denoised_at[0]
            if run:
                tails[depth].append(tail)
                overlaps[depth].append(overlap)
            print(f"run {run}: decode ahead {depth}: tail {tail:.2f} s (decode "
                  f"{overlap.produce_s:.2f} s, watermark + encode {overlap.consume_s:.2f} s, "
                  f"overlap {overlap.fraction:.0%})", flush=True)
        prefetch.prefetched = plain
        before, after = statistics.median(tails[0]), statistics.median(tails[2])
        hidden = statistics.median(o.fraction for o in overlaps[2])
        print(f"\n{args.seconds:g} s at {args.resolution} px, tiny weights, CPU: tail "
              f"one after the other {before:.2f} s, decoding ahead {after:.2f} s, "
              f"ratio {after / before:.2f}; overlap achieved {hidden:.0%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
