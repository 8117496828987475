"""The denoising loop against the golden per-window tensors, replaying the recorded UNet outputs
so that windows, guidance, Euler steps and averaging are tested on their own."""

from __future__ import annotations


import pytest
import torch

from sonic_ext.sonic.golden import GoldenCase
from sonic_ext.sonic.sampling import (Conditioning, Guidance, Schedule, WindowSchedule, denoise,
                                      initial_latents)
from tests.sonic.golden_cases import CASES


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> GoldenCase:
    return GoldenCase(request.param)


def loop_settings(case: GoldenCase) -> tuple[Schedule, Guidance, WindowSchedule]:
    p = case.params
    schedule = Schedule.from_scheduler_config(case.config("scheduler_config.json"),
                                              p["inference_steps"])
    g_min, g_max = p["appearance_guidance_scale_min_max"]
    return (schedule, Guidance(g_min, g_max, p["audio_guidance_scale"]),
            WindowSchedule(p["frames_per_window"], p["overlap"], p["shift_offset"]))


def test_window_layout_matches_the_recorded_windows(case: GoldenCase) -> None:
    _, _, windows = loop_settings(case)
    n = case.params["num_generated_frames"]
    recorded = [(w["i"], w["idx_mod"]) for w in case.params["windows"]]
    ours = [(i, idx) for i in range(case.params["inference_steps"])
            for idx in windows.windows(n, i)]
    assert ours == recorded


def test_windows_wrap_around_short_clips() -> None:
    (only,) = WindowSchedule().windows(10, step=1)
    assert only == [(j - 7) % 10 for j in range(25)]


def test_schedule_matches_the_recorded_sigmas_and_timesteps(case: GoldenCase) -> None:
    schedule, guidance, _ = loop_settings(case)
    assert case.compare("pipeline_cond/sigmas", schedule.sigmas).ok
    assert case.compare("pipeline_cond/timesteps", schedule.timesteps).ok
    g1, g2 = guidance.scales(schedule.steps)
    assert case.compare("pipeline_cond/guidance_scale1", g1).ok
    assert case.compare("pipeline_cond/guidance_scale2", g2).ok


def test_loop_reproduces_every_window_and_step(case: GoldenCase) -> None:
    schedule, guidance, windows = loop_settings(case)
    cond_t = case.expected("pipeline_cond")
    image_latents = case.expected("vae_encode")["image_latents"]
    n = case.params["num_generated_frames"]
    per_frame = image_latents.unsqueeze(1).repeat(1, n, 1, 1, 1)
    cond = Conditioning(
        image_latents=torch.cat([torch.zeros_like(per_frame), per_frame, per_frame]),
        clip_embeds=cond_t["image_embeddings_cfg"], audio_tokens=cond_t["audio_prompts_cfg"],
        motion_buckets=cond_t["motion_buckets_scaled"][0, :, 0, :, 0],
        fps=case.params["fps_condition"])
    lat = case.expected("latents")
    start = initial_latents(case.expected("vae_encode")["ref_latents"], lat["init_noise"],
                            float(schedule.sigmas[0]))
    assert case.compare("latents/init_latents", start).ok

    recorded = case.expected("windows")
    calls = iter(w["tag"] for w in case.params["windows"])

    def replay(sample, timestep, clip, audio, time_ids):  # the recorded UNet outputs, in order
        return recorded[f"{next(calls)}_unet_out"]

    seen: dict[str, torch.Tensor] = {}
    final = denoise(start, cond, replay, schedule, guidance, windows,
                    record=lambda name, t: seen.__setitem__(name, t))
    checked = []
    for name in case.names():
        stage, key = name.split("/", 1)
        if stage == "windows" and key in seen and not key.endswith("unet_out"):
            checked.append(case.compare(name, seen[key]))
        elif stage == "latents" and key.startswith("step"):
            checked.append(case.compare(name, seen[key]))
    checked.append(case.compare("latents/final", final))
    failures = [c.to_dict() for c in checked if not c.ok]
    assert failures == []
    assert len(checked) >= 4 * len(case.params["windows"])
