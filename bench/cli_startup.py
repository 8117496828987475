"""How long the CLI takes to answer, against bare Python measured in the same run.

The CLI must stay lazy: `--help`, `models status` and input errors should not pay for gradio,
FastAPI or torch. Prints median wall time per command and its ratio to `python -c pass`.

    .venv/bin/python bench/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "baseline: python -c pass": ["-c", "pass"],
    "import sonic_ext": ["-c", "import sonic_ext"],
    "sonic-ext --help": ["-m", "sonic_ext", "--help"],
    "sonic-ext models status": ["-m", "sonic_ext", "--home", "{home}", "models", "status"],
    "sonic-ext generate (bad input)": ["-m", "sonic_ext", "--home", "{home}", "generate",
                                       "--image", "missing.png", "--audio", "a.wav",
                                       "--out", "o.mp4"],
}


def median_seconds(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as home:
        results = {name: median_seconds([a.format(home=home) for a in args], repeat)
                   for name, args in CASES.items()}
    baseline = results["baseline: python -c pass"]
    print(f"{'case':<34} {'median s':>9} {'x baseline':>11}")
    for name, seconds in results.items():
        print(f"{name:<34} {seconds:>9.3f} {seconds / baseline:>11.1f}")


if __name__ == "__main__":
    main()
