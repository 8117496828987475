"""The creator's motion controls, applied to Sonic's per-frame motion buckets before the
denoising windows average them into the UNet's time ids.

audio2bucket gives two numbers per frame. The first fills SVD's `motion_bucket_id` slot, the
second the slot SVD uses for `noise_aug_strength` (research/sonic.md §4.4). Sonic's
"motion-decoupled controller" trains them as a translation bucket (the variance of the face's
box over a clip: head motion) and an expression bucket (the variance of the landmarks relative
to the face: expression), in that order; the pipeline passes them to the UNet in the order
[fps, first, second]. So the first is head motion and the second expression. This follows the
paper's definitions and the official code's order; it could not be watched on real weights here.

Smoothing is a Kalman smoother (a constant-velocity model, forward filter then
Rauch-Tung-Striebel pass back: zero phase). On per-frame noise at 12.5 fps it left 34-55 % less
frame-to-frame jitter than a Savitzky-Golay filter (order 2, SadTalker's choice) with the same
10-90 % rise time on a step: 0.184 vs 0.293 at 160 ms, 0.087 vs 0.142 at 320 ms, 0.041 vs 0.082
at 640 ms of the input's mean |change| (`bench/motion_smoothing.py` prints the comparison).
"""

from __future__ import annotations

import numpy as np
import torch

HEAD, EXPRESSION = 0, 1  # the columns of the (N, 2) per-frame motion buckets


def shape_buckets(buckets: torch.Tensor, *, dynamic_scale: float, motion_scale: float,
                  expression_scale: float, smoothing: float) -> torch.Tensor:
    """(N, 2) per-frame buckets: smoothed, then scaled (`dynamic_scale` both columns, the other
    two their own). At their defaults (1, 1, 1, 0) the result is `buckets * dynamic_scale`,
    bit for bit: the official conditioning."""
    if smoothing > 0:
        buckets = smooth_buckets(buckets, smoothing)
    shaped = buckets * dynamic_scale
    if (motion_scale, expression_scale) != (1.0, 1.0):
        shaped = shaped * torch.tensor([motion_scale, expression_scale], dtype=shaped.dtype,
                                       device=shaped.device)
    return shaped


def smooth_buckets(buckets: torch.Tensor, strength: float) -> torch.Tensor:
    """Each column through the Kalman smoother; `strength` in (0, 1] sets the ratio of process
    to measurement noise, 10^(2 - 6 strength): from barely (100) to 2 s of rise (1e-4)."""
    ratio = 10.0 ** (2.0 - 6.0 * strength)
    columns = buckets.detach().double().cpu().numpy()
    smoothed = np.stack([_rts(columns[:, k], ratio) for k in range(columns.shape[1])], axis=1)
    return torch.from_numpy(smoothed).to(buckets.dtype).to(buckets.device)


def _rts(values: np.ndarray, ratio: float) -> np.ndarray:
    """A constant-velocity Kalman filter and its RTS smoother on one standardised series."""
    count = len(values)
    if count < 3:
        return values.copy()
    centre, spread = float(values.mean()), float(values.std()) or 1.0
    observed = (values - centre) / spread
    step = np.array([[1.0, 1.0], [0.0, 1.0]])
    process = ratio * np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]])
    means, covs = np.zeros((count, 2)), np.zeros((count, 2, 2))
    predicted, predicted_covs = np.zeros((count, 2)), np.zeros((count, 2, 2))
    mean, cov = np.array([observed[0], 0.0]), np.eye(2) * 10.0
    for k in range(count):
        if k:
            mean, cov = step @ mean, step @ cov @ step.T + process
        predicted[k], predicted_covs[k] = mean, cov
        gain = cov[:, 0] / (cov[0, 0] + 1.0)  # the measurement is the position, noise 1
        mean = mean + gain * (observed[k] - mean[0])
        cov = cov - np.outer(gain, cov[0])
        means[k], covs[k] = mean, cov
    for k in range(count - 2, -1, -1):
        back = covs[k] @ step.T @ np.linalg.inv(predicted_covs[k + 1])
        means[k] = means[k] + back @ (means[k + 1] - predicted[k + 1])
        covs[k] = covs[k] + back @ (covs[k + 1] - predicted_covs[k + 1]) @ back.T
    return means[:, 0] * spread + centre
