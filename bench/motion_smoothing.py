"""Which smoother for the motion buckets: a Savitzky-Golay filter (order 2, SadTalker's choice)
or our Kalman smoother (`sonic_ext.sonic.motion`), compared at the same lag.

On per-frame noise at 12.5 fps it prints the jitter each leaves (mean |frame-to-frame change| of
the output over that of the input) beside the 10-90 % rise time on a unit step (how late a real
head movement shows), for a range of settings of each; and the jitter ratio at equal rise time.
`--strengths` prints what our `motion_smoothing` values give.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from scipy.signal import savgol_filter

from sonic_ext.sonic.motion import smooth_buckets

FPS = 12.5
Filter = Callable[[np.ndarray], np.ndarray]


def kalman(strength: float) -> Filter:
    def run(series: np.ndarray) -> np.ndarray:
        column = torch.from_numpy(series[:, None].astype(np.float64))
        return smooth_buckets(column, strength)[:, 0].numpy()
    return run


def savgol(window: int) -> Filter:
    return lambda series: savgol_filter(series, window, 2, mode="interp")


def jitter_left(smoother: Filter, frames: int = 2000, seed: int = 0) -> float:
    noise = np.random.default_rng(seed).standard_normal(frames)
    return float(np.abs(np.diff(smoother(noise))).mean() / np.abs(np.diff(noise)).mean())


def rise_ms(smoother: Filter) -> float:
    response = smoother(np.r_[np.zeros(200), np.ones(200)])
    return float(np.argmax(response >= 0.9) - np.argmax(response >= 0.1)) / FPS * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", action="store_true",
                        help="also print what each motion_smoothing value gives")
    args = parser.parse_args()
    measured: dict[str, list[tuple[float, float, str]]] = {"savgol": [], "kalman": []}
    for window in (5, 7, 9, 13, 17, 21, 25):
        smoother = savgol(window)
        measured["savgol"].append((rise_ms(smoother), jitter_left(smoother), f"window {window}"))
    for strength in np.linspace(0.2, 0.8, 13):
        smoother = kalman(float(strength))
        measured["kalman"].append((rise_ms(smoother), jitter_left(smoother),
                                   f"strength {strength:.2f}"))
    for kind, rows in measured.items():
        for rise, jitter, setting in rows:
            print(f"{kind:7s} {setting:14s} rise {rise:5.0f} ms  jitter left {jitter:.3f}")
    print("\nat equal rise time, the least jitter each leaves (kalman / savgol):")
    for rise in sorted({row[0] for row in measured["savgol"]}):
        best = {kind: min((j for r, j, _ in rows if r == rise), default=None)
                for kind, rows in measured.items()}
        if None not in best.values():
            print(f"  rise {rise:4.0f} ms: savgol {best['savgol']:.3f}, kalman "
                  f"{best['kalman']:.3f}, ratio {best['kalman'] / best['savgol']:.2f}")
    if args.strengths:
        for strength in (0.05, 0.25, 0.5, 0.75, 1.0):
            smoother = kalman(strength)
            print(f"motion_smoothing {strength:.2f}: rise {rise_ms(smoother):.0f} ms, jitter "
                  f"left {jitter_left(smoother):.3f}")


if __name__ == "__main__":
    main()
