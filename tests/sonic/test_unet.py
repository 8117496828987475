"""The Sonic UNet has the official layout and reproduces the official UNet calls of case A."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
safetensors_torch = pytest.importorskip("safetensors.torch")

from sonic_ext.errors import ModelsMissing
from sonic_ext.sonic.components import full_size
from sonic_ext.sonic.unet import downsample_face_mask, load_sonic_unet

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STATE_DICT = FIXTURES / "sonic_state_dict"
CASE_A = FIXTURES / "sonic_golden" / "case_a"
TINY_WEIGHTS = CASE_A / "weights" / "unet.safetensors"

def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _tiny_config() -> dict[str, Any]:
    return _json(CASE_A / "weights" / "unet_config.json")


def _num_audio_tokens(config: dict[str, Any]) -> int:
    return config["_sonic_add_ip_adapters"]["num_adapter_embeds"][0]


@pytest.fixture(scope="module")
def case_a() -> dict[str, Any]:
    expected = CASE_A / "expected"
    tensors = {name: safetensors_torch.load_file(str(expected / f"{name}.safetensors"))
               for name in ("windows", "unet_call0", "pipeline_cond")}
    manifest = {entry["name"]: entry for entry in _json(expected / "manifest.json")["tensors"]}
    config = _tiny_config()
    model = load_sonic_unet(config, _num_audio_tokens(config), TINY_WEIGHTS)
    return {**tensors, "manifest": manifest, "params": _json(CASE_A / "inputs" / "params.json"),
            "model": model}


def _assert_matches(actual: torch.Tensor, case: dict[str, Any], name: str) -> None:
    stage, key = name.split("/")
    expected = case[stage][key]
    tolerance = case["manifest"][name]["recommended"]
    error = (actual - expected).abs().max().item()
    print(f"{name}: max abs error {error:.3g} (atol {tolerance['atol']})")
    torch.testing.assert_close(actual, expected, atol=tolerance["atol"],
                               rtol=tolerance.get("rtol", 0.0))


def test_full_size_model_has_the_official_processor_layout() -> None:
    """(Keys and shapes: tests/sonic/test_model_keys.py.)"""
    model = full_size("unet")
    layout = _json(STATE_DICT / "sonic_unet_attn_processors.json")
    attn2 = sorted(f"{name}.processor" for name, _ in model.named_modules()
                   if name.endswith(".attn2"))
    attn1 = sorted(f"{name}.processor" for name, _ in model.named_modules()
                   if name.endswith(".attn1"))
    assert attn2 == sorted(layout["IPAdapterAttnProcessor2_0"])
    assert attn1 == sorted(layout["AttnProcessor2_0"])


@pytest.mark.parametrize("num_queries", [2, 8, 32, 128])
def test_face_mask_is_downsampled_as_each_attention_level_sees_it(case_a: dict[str, Any],
                                                                   num_queries: int) -> None:
    mask = case_a["pipeline_cond"]["face_mask_unet"]
    _assert_matches(downsample_face_mask(mask, num_queries), case_a,
                    f"pipeline_cond/ip_mask_downsampled_q{num_queries}")


def test_first_unet_call_matches_the_official_output(case_a: dict[str, Any]) -> None:
    windows, call0 = case_a["windows"], case_a["unet_call0"]
    with torch.inference_mode():
        out = case_a["model"](windows["s0_w0_unet_sample"], call0["timestep"], call0["ehs_clip"],
                              call0["ehs_audio"], windows["s0_w0_added_time_ids"],
                              case_a["pipeline_cond"]["face_mask_unet"])
    _assert_matches(out, case_a, "windows/s0_w0_unet_out")


def test_shifted_window_of_step_1_matches_the_official_output(case_a: dict[str, Any]) -> None:
    """Per-frame states gathered by the window's wrapped frame indices; CFG rows as in call 0."""
    window = next(w for w in case_a["params"]["windows"] if w["tag"] == "s1_w0")
    frames = torch.tensor(window["idx_mod"])
    cond, windows = case_a["pipeline_cond"], case_a["windows"]
    timestep = cond["timesteps"][window["i"]]
    assert timestep.item() == pytest.approx(window["t"])
    with torch.inference_mode():
        out = case_a["model"](windows["s1_w0_unet_sample"], timestep,
                              cond["image_embeddings_cfg"][:, frames].flatten(0, 1),
                              cond["audio_prompts_cfg"][:, frames].flatten(0, 1),
                              windows["s1_w0_added_time_ids"], cond["face_mask_unet"])
    _assert_matches(out, case_a, "windows/s1_w0_unet_out")


def test_runs_in_bfloat16(case_a: dict[str, Any]) -> None:
    """Inputs are cast to the model's dtype; the error is bfloat16 rounding (stock SVD: ~0.2)."""
    config = _tiny_config()
    model = load_sonic_unet(config, _num_audio_tokens(config), TINY_WEIGHTS, dtype=torch.bfloat16)
    windows, call0 = case_a["windows"], case_a["unet_call0"]
    with torch.inference_mode():
        out = model(windows["s0_w0_unet_sample"], call0["timestep"], call0["ehs_clip"],
                    call0["ehs_audio"], windows["s0_w0_added_time_ids"],
                    case_a["pipeline_cond"]["face_mask_unet"])
    assert out.dtype == torch.bfloat16
    assert (out.float() - windows["s0_w0_unet_out"]).abs().max().item() < 0.5


def test_per_batch_instead_of_per_frame_states_are_refused(case_a: dict[str, Any]) -> None:
    windows, call0 = case_a["windows"], case_a["unet_call0"]
    with pytest.raises(ValueError, match=r"clip_embeds \(3, 1, 32\) is not \(75, n, 32\)"):
        case_a["model"](windows["s0_w0_unet_sample"], call0["timestep"], call0["ehs_clip"][::25],
                        call0["ehs_audio"], windows["s0_w0_added_time_ids"])


def _tiny_state_dict() -> dict[str, torch.Tensor]:
    return safetensors_torch.load_file(str(TINY_WEIGHTS))


def test_a_missing_key_is_named_with_the_file(tmp_path: Path) -> None:
    state = _tiny_state_dict()
    dropped = "mid_block.attentions.0.transformer_blocks.0.attn2.processor.to_v_ip.0.weight"
    del state[dropped]
    path = tmp_path / "unet.safetensors"
    safetensors_torch.save_file(state, str(path))
    config = _tiny_config()
    with pytest.raises(ModelsMissing) as caught:
        load_sonic_unet(config, _num_audio_tokens(config), path)
    assert str(path) in str(caught.value)
    assert f"missing keys (1): {dropped}" in str(caught.value)


def test_a_pth_with_an_extra_key_and_a_wrong_shape_is_refused(tmp_path: Path) -> None:
    state = _tiny_state_dict()
    state["conv_in.weight"] = state["conv_in.weight"][:, :4]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "unet.pth"
    torch.save(state, path)
    config = _tiny_config()
    with pytest.raises(ModelsMissing) as caught:
        load_sonic_unet(config, _num_audio_tokens(config), path)
    message = str(caught.value)
    assert str(path) in message
    assert "unexpected keys (1): extra.weight" in message
    assert "conv_in.weight (32, 4, 3, 3) (expected (32, 8, 3, 3))" in message
