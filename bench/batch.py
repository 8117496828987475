"""A batch against separate runs: N items on tiny test weights as one `sonic-ext batch`, beside
the same N videos made by N `sonic-ext generate` processes, in the same run.

A batch loads the models and the face backend once and keeps them; separate runs pay for
Python, torch and the model load every time. Prints both wall times and their ratio.

    .venv/bin/python bench/batch.py [--items 8] [--steps 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "tests" / "fixtures" / "faces" / "obama2.jpg"
RELEASE = REPO / "tests" / "fixtures" / "consent" / "example-release.pdf"


def sonic(home: Path, models: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "sonic_ext", "--home", str(home),
                           "--models-dir", str(models), *args], capture_output=True, text=True,
                          check=False)
    if done.returncode not in (0,):
        raise SystemExit(f"sonic-ext {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sonic-bench-batch-"))
    try:
        home, models = work / "home", work / "models"
        sonic(home, models, "models", "make-tiny", str(models))
        consent = json.loads(sonic(home, models, "consent", "add", "--name", "Barack Obama",
                                   "--portrait", str(REPO / "tests" / "fixtures" / "faces" /
                                                     "obama.jpg"),
                                   "--evidence", str(RELEASE), "--purpose", "education",
                                   "--grantee", "any", "--json"))["id"]
        shutil.copy(PORTRAIT, work / "portrait.jpg")
        for index in range(args.items):
            sonic(home, models, "dev", "sample-audio", str(work / f"part{index}.wav"),
                  "--seconds", "1.5")
        flags = ["--purpose", "education", "--consent", consent, "--steps", str(args.steps),
                 "--min-resolution", "256", "--seed", "0"]
        with (work / "jobs.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["portrait", "audio"])
            writer.writerows(["portrait.jpg", f"part{i}.wav"] for i in range(args.items))

        (work / "single").mkdir()
        start = time.perf_counter()
        for index in range(args.items):
            sonic(home, models, "generate", "--image", str(work / "portrait.jpg"), "--audio",
                  str(work / f"part{index}.wav"), "--out", str(work / "single" / f"{index}.mp4"),
                  *flags)
        separate = time.perf_counter() - start
        start = time.perf_counter()
        sonic(home, models, "batch", str(work / "jobs.csv"), "--out-dir", str(work / "batch"),
              *flags)
        batch = time.perf_counter() - start
        made = len(list((work / "batch").glob("*.mp4")))
        print(f"{args.items} items, {args.steps} step(s), 256 px, 1.5 s of speech each "
              f"(tiny weights, CPU)")
        print(f"baseline: {args.items} separate `generate` runs: {separate:7.1f} s "
              f"({separate / args.items:.1f} s an item)")
        print(f"one `batch` run ({made} made):        {batch:7.1f} s "
              f"({batch / args.items:.1f} s an item)")
        print(f"ratio batch / separate: {batch / separate:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
