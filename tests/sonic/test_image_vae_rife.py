"""Preprocessing, VAE and RIFE against the golden fixtures of the official pipeline (tiny weights).

Every case folder under tests/fixtures/sonic_golden is checked; settings come from its
params.json and tolerances from its manifest.json, so a held-back case drops in unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLTemporalDecoder
from PIL import Image
from safetensors.torch import load_file, save_file

from sonic_ext.errors import ModelsMissing
from sonic_ext.sonic.golden import GoldenCase
from sonic_ext.sonic.preprocess import (generation_size, kept_size, prepare_image, rescale_frames,
                                        square_crop_box)
from sonic_ext.sonic.rife import (
    IFNet,
    decoded_to_unit,
    interleave,
    interpolate_pairs,
    interpolate_stream,
    load_ifnet,
)
from sonic_ext.sonic.vae import decode_chunks, encode_reference, load_vae, load_vae_from_file
from tests.sonic.golden_cases import CASES, assert_close

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module", params=CASES, ids=[p.name for p in CASES])
def case(request: pytest.FixtureRequest) -> GoldenCase:
    return GoldenCase(request.param)


@pytest.fixture(scope="module")
def vae(case: GoldenCase) -> AutoencoderKLTemporalDecoder:
    return load_vae_from_file(case.weights("vae.safetensors"), case.weights("vae_config.json"),
                              device="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def ifnet(case: GoldenCase) -> IFNet:
    return load_ifnet(case.weights("rife_flownet.safetensors"), device="cpu")


def _video_frames(name: str, case: GoldenCase) -> torch.Tensor:
    """(1,3,N,H,W) fixture video → (N,3,H,W)."""
    return case.tensor(name)[0].permute(1, 0, 2, 3)


# --- preprocessing -------------------------------------------------------------------------

def test_square_crop_box_matches_every_reference(case: GoldenCase) -> None:
    checks = case.params["process_bbox_checks"]["cases"]
    assert checks
    for check in checks:
        height, width = check["image_hw"]
        box = square_crop_box(check["bbox_x1y1x2y2"], check["expand_ratio"], height, width)
        assert list(box) == check["process_bbox"], check


def test_prepare_image_matches_official_preprocessing(case: GoldenCase) -> None:
    image, box = case.portrait_and_box()
    # keep_resolution only rescales the finished video in the official code, so the golden
    # generation size is always the min_resolution rule.
    prepared = prepare_image(image, box, min_resolution=case.params["min_resolution"],
                             area=case.params["area"])
    assert [prepared.height, prepared.width] == case.params["generation_size_hw"]
    for name in ("ref_img", "face_mask", "clip_pixel_values"):
        assert_close(case, f"preprocess/{name}", getattr(prepared, name))


def test_generation_size_rules() -> None:
    assert generation_size(1024, 1024, 512) == (512, 512)
    assert generation_size(1920, 1080, 512) == (896, 512)
    assert generation_size(96, 150, 64) == (64, 128)
    assert kept_size(1921, 1080) == (1920, 1080)  # keep_resolution: even sides for H.264


def test_rescaled_frames_keep_their_range_and_take_the_size() -> None:
    frames = torch.rand(3, 3, 64, 64)
    out = rescale_frames(frames, (101 // 2 * 2, 70))
    assert tuple(out.shape) == (3, 3, 70, 100)
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert rescale_frames(frames, (64, 64)) is frames
    flat = torch.full((1, 3, 64, 64), 0.25)
    torch.testing.assert_close(rescale_frames(flat, (30, 40)), torch.full((1, 3, 40, 30), 0.25))


def test_resize_is_skipped_when_the_size_already_fits() -> None:
    image = Image.effect_noise((128, 64), 40).convert("RGB")
    prepared = prepare_image(image, [10, 10, 30, 30], min_resolution=64)
    assert (prepared.width, prepared.height) == (128, 64)
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    assert torch.equal(prepared.ref_img, (pixels - 0.5) / 0.5)


# --- VAE -----------------------------------------------------------------------------------

def test_vae_encode_matches_official(case: GoldenCase, vae: AutoencoderKLTemporalDecoder) -> None:
    encoded = encode_reference(vae, case.tensor("preprocess/ref_img"))
    assert_close(case, "vae_encode/ref_latents", encoded.ref_latents)
    assert_close(case, "vae_encode/image_latents", encoded.image_latents)


@pytest.fixture(scope="module")
def decoded_chunks(case: GoldenCase, vae: AutoencoderKLTemporalDecoder) -> list[torch.Tensor]:
    chunk_size = case.params["decode_chunk_size"]
    return list(decode_chunks(vae, case.tensor("latents/final"), chunk_size))


def test_vae_decode_matches_official_in_chunks(case: GoldenCase,
                                               decoded_chunks: list[torch.Tensor]) -> None:
    chunk_size = case.params["decode_chunk_size"]
    total = case.params["num_generated_frames"]
    assert [c.shape[0] for c in decoded_chunks] == \
        [min(chunk_size, total - s) for s in range(0, total, chunk_size)]
    frames = torch.cat(decoded_chunks).permute(1, 0, 2, 3).unsqueeze(0)
    assert_close(case, "decode/decoded_frames", frames)


def test_vae_loads_from_a_diffusers_folder_with_fp16_variant(case: GoldenCase, tmp_path: Path) -> None:
    state = load_file(str(case.weights("vae.safetensors")))
    half = {k: v.half().contiguous() for k, v in state.items()}
    (tmp_path / "config.json").write_text(case.weights("vae_config.json").read_text())
    save_file(half, str(tmp_path / "diffusion_pytorch_model.fp16.safetensors"))
    loaded = load_vae(tmp_path, device="cpu", dtype=torch.float32).state_dict()
    assert sorted(loaded) == sorted(state)
    assert all(loaded[k].dtype == torch.float32 and torch.equal(loaded[k], half[k].float())
               for k in state)


def test_decode_rejects_a_batch_of_videos(vae: AutoencoderKLTemporalDecoder) -> None:
    with pytest.raises(ValueError, match="one video"):
        next(decode_chunks(vae, torch.zeros(2, 3, 4, 2, 2)))


# --- RIFE ----------------------------------------------------------------------------------

def test_rife_matches_official_output_frames(case: GoldenCase, ifnet: IFNet) -> None:
    decoded = _video_frames("decode/decoded_frames", case)
    scale_list = case.params["rife_scale_list"]
    unit = decoded_to_unit(decoded, device="cpu", dtype=torch.float32)
    video = torch.cat((interleave(unit, ifnet, scale_list), unit[-1:]))
    assert_close(case, "rife/output_frames", video.permute(1, 0, 2, 3).unsqueeze(0))
    assert torch.equal(video[0::2], unit)  # even frames are the decoded frames themselves


def test_streaming_decode_and_interpolate_equals_one_shot(
        case: GoldenCase, vae: AutoencoderKLTemporalDecoder, ifnet: IFNet,
        decoded_chunks: list[torch.Tensor]) -> None:
    scale_list = case.params["rife_scale_list"]
    chunk_size = case.params["decode_chunk_size"]
    chunks = decode_chunks(vae, case.tensor("latents/final"), chunk_size)
    stream = interpolate_stream(ifnet, chunks, scale_list)
    streamed = torch.cat(list(stream))
    unit = decoded_to_unit(torch.cat(decoded_chunks), device="cpu", dtype=torch.float32)
    one_shot = torch.cat((interleave(unit, ifnet, scale_list), unit[-1:]))
    assert streamed.shape[0] == 2 * case.params["num_generated_frames"] - 1
    torch.testing.assert_close(streamed, one_shot, rtol=0, atol=1e-5)
    assert_close(case, "rife/output_frames", streamed.permute(1, 0, 2, 3).unsqueeze(0))


def test_stream_carries_frames_across_uneven_chunks(case: GoldenCase, ifnet: IFNet) -> None:
    decoded = _video_frames("decode/decoded_frames", case)[:7]
    scale_list = case.params["rife_scale_list"]
    chunks = [decoded[0:1], decoded[1:4], decoded[4:5], decoded[5:7]]
    streamed = torch.cat(list(interpolate_stream(ifnet, chunks, scale_list)))
    whole = torch.cat(list(interpolate_stream(ifnet, [decoded], scale_list)))
    assert streamed.shape[0] == 13
    torch.testing.assert_close(streamed, whole, rtol=0, atol=1e-5)


def test_interpolate_pads_sizes_that_are_not_multiples_of_64(ifnet: IFNet) -> None:
    generator = torch.Generator().manual_seed(0)
    first, second = torch.rand(2, 1, 3, 70, 50, generator=generator)
    middle = interpolate_pairs(ifnet, first, second)
    assert middle.shape == (1, 3, 70, 50)
    padded = ifnet(torch.nn.functional.pad(first, (0, 14, 0, 58)),
                   torch.nn.functional.pad(second, (0, 14, 0, 58)))
    torch.testing.assert_close(middle, padded[..., :70, :50].clamp(0, 1), rtol=0, atol=0)


# --- RIFE loader -------------------------------------------------------------------------------

def test_official_pkl_with_module_prefix_loads(case: GoldenCase, tmp_path: Path) -> None:
    state = load_file(str(case.weights("rife_flownet.safetensors")))
    pkl = tmp_path / "flownet.pkl"
    official = {f"module.{k}": v for k, v in state.items()}
    official["step_without_prefix"] = torch.zeros(1)  # dropped, as the official loader does
    torch.save(official, pkl)
    loaded = load_ifnet(pkl, device="cpu").state_dict()
    assert all(loaded[k].dtype == torch.float32 and torch.equal(loaded[k], state[k].float())
               for k in state)


def _save_variant(tmp_path: Path, case: GoldenCase,
                  edit: Callable[[dict[str, torch.Tensor]], object]) -> Path:
    state = load_file(str(case.weights("rife_flownet.safetensors")))
    edit(state)
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    return path


def test_loader_names_missing_keys_and_the_file(case: GoldenCase, tmp_path: Path) -> None:
    path = _save_variant(tmp_path, case, lambda s: s.pop("block2.conv1.2.bias"))
    with pytest.raises(ModelsMissing) as info:
        load_ifnet(path, device="cpu")
    message = str(info.value)
    assert str(path) in message and "missing keys (1): block2.conv1.2.bias" in message


def test_loader_names_unexpected_keys(case: GoldenCase, tmp_path: Path) -> None:
    path = _save_variant(tmp_path, case, lambda s: s.update({"contextnet.w": torch.zeros(1)}))
    with pytest.raises(ModelsMissing, match=r"unexpected keys \(1\): contextnet\.w"):
        load_ifnet(path, device="cpu")


def test_loader_names_wrong_shapes(case: GoldenCase, tmp_path: Path) -> None:
    key = "block0.conv0.0.1.weight"
    path = _save_variant(tmp_path, case, lambda s: s.update({key: torch.zeros(3)}))
    with pytest.raises(ModelsMissing, match=re.escape(f"wrong shapes (1): {key} (3,)")):
        load_ifnet(path, device="cpu")


def test_loader_reports_absent_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ModelsMissing, match="not found"):
        load_ifnet(tmp_path / "flownet.pkl", device="cpu")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelsMissing, match="cannot be read as RIFE weights: Weights only load failed"):
        load_ifnet(junk, device="cpu")
