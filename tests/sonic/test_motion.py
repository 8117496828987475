"""The creator's motion controls on the golden runs' motion buckets: at their defaults they are
the official conditioning bit for bit; each scale moves only its own bucket into the UNet's time
ids; smoothing lowers the buckets' total variation as its strength grows."""

from __future__ import annotations

import pytest
import torch

from sonic_ext.contracts import GenerationParams
from sonic_ext.sonic.golden import GoldenCase
from sonic_ext.sonic.motion import EXPRESSION, HEAD, shape_buckets, smooth_buckets
from sonic_ext.sonic.sampling import Conditioning, Schedule, WindowSchedule, denoise
from tests.sonic.golden_cases import CASES


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> GoldenCase:
    return GoldenCase(request.param)


def per_frame(case: GoldenCase) -> torch.Tensor:
    """(N, 2) audio2bucket buckets of the official run, before its dynamic_scale."""
    return case.expected("audio_cond")["motion_buckets"].reshape(-1, 2)


def shaped(buckets: torch.Tensor, **params: float) -> torch.Tensor:
    p = GenerationParams(**params)
    return shape_buckets(buckets, dynamic_scale=p.dynamic_scale, motion_scale=p.motion_scale,
                         expression_scale=p.expression_scale, smoothing=p.motion_smoothing)


def time_ids(case: GoldenCase, buckets: torch.Tensor) -> list[torch.Tensor]:
    """The UNet's added_time_ids of every window of one denoising step over these buckets."""
    n = buckets.shape[0]
    latents = torch.zeros(1, n, 4, 2, 2)
    cond = Conditioning(image_latents=torch.zeros(3, n, 4, 2, 2),
                        clip_embeds=torch.zeros(3, n, 1, 8), audio_tokens=torch.zeros(3, n, 2, 8),
                        motion_buckets=buckets)
    seen: list[torch.Tensor] = []

    def unet(sample, timestep, clip, audio, ids):  # a stand-in: what the UNet is given
        seen.append(ids[0].clone())
        return torch.zeros_like(sample[:, :, :4])

    schedule = Schedule.from_scheduler_config(case.config("scheduler_config.json"), 1)
    denoise(latents, cond, unet, schedule, windows=WindowSchedule())
    return seen


def test_the_defaults_are_the_official_conditioning_bit_for_bit(case: GoldenCase) -> None:
    official = case.expected("pipeline_cond")["motion_buckets_scaled"][0, :, 0, :, 0]
    dynamic = case.params["dynamic_scale"]
    assert torch.equal(shaped(per_frame(case), dynamic_scale=dynamic), official)


def test_each_scale_moves_only_its_own_bucket_into_the_time_ids(case: GoldenCase) -> None:
    buckets = per_frame(case)
    base = time_ids(case, shaped(buckets))
    head = time_ids(case, shaped(buckets, motion_scale=2.0))
    face = time_ids(case, shaped(buckets, expression_scale=0.5))
    both = time_ids(case, shaped(buckets, dynamic_scale=2.0))
    for plain, more_head, less_face, doubled in zip(base, head, face, both):
        # time ids are [fps, head bucket, expression bucket]
        assert more_head[0] == less_face[0] == plain[0]
        assert torch.allclose(more_head[1 + HEAD], 2 * plain[1 + HEAD])
        assert more_head[1 + EXPRESSION] == plain[1 + EXPRESSION]
        assert torch.allclose(less_face[1 + EXPRESSION], 0.5 * plain[1 + EXPRESSION])
        assert less_face[1 + HEAD] == plain[1 + HEAD]
        assert torch.allclose(doubled[1:], 2 * plain[1:])  # dynamic_scale: both


def test_smoothing_lowers_the_total_variation_as_it_grows(case: GoldenCase) -> None:
    noisy = per_frame(case).double() + torch.randn(per_frame(case).shape,
                                                   generator=torch.Generator().manual_seed(0),
                                                   dtype=torch.float64)
    variation = [float(shaped(noisy, motion_smoothing=s).diff(dim=0).abs().sum())
                 for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(variation, variation[1:])), variation
    assert variation[-1] < 0.1 * variation[0], variation
    steady = torch.full((40, 2), 16.0, dtype=torch.float64)
    assert torch.allclose(smooth_buckets(steady, 0.5), steady)  # a still clip stays still


def test_smoothing_keeps_a_slow_movement(case: GoldenCase) -> None:
    """A head turning over two seconds is kept (no lag a viewer would see), noise is not."""
    frames = torch.arange(100, dtype=torch.float64)
    turn = 16 + 8 * torch.sin(2 * torch.pi * frames / 50)[:, None].repeat(1, 2)
    noise = 0.5 * torch.randn(turn.shape, generator=torch.Generator().manual_seed(1),
                              dtype=torch.float64)
    smoothed = smooth_buckets(turn + noise, 0.5)
    assert float((smoothed - turn).abs().mean()) < 0.5 * float(noise.abs().mean())
