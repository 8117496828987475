"""The audio path against the official state-dict layout and the golden fixtures.

Every golden case folder is checked (case A now, the held-back one when it lands): settings come
from its `params.json`, tolerances from its `manifest.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

from sonic_ext.errors import InputError, ModelsMissing
from sonic_ext.sonic.golden import GoldenCase
from sonic_ext.sonic.audio_adapters import Audio2Bucket, Audio2Token, load_adapter
from sonic_ext.sonic.audio_features import (
    AudioConditioning,
    AudioFeatures,
    audio_conditioning,
    encode,
    extract_audio_features,
    load_audio,
    load_whisper,
    load_whisper_files,
)
from tests.sonic.golden_cases import CASES, assert_close

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class GoldenRun:
    case: GoldenCase
    features: AudioFeatures
    conditioning: AudioConditioning


@pytest.fixture(scope="module", params=CASES, ids=[case.name for case in CASES])
def golden(request: pytest.FixtureRequest) -> GoldenRun:
    case = GoldenCase(request.param)
    settings = case.params["config_yaml_effective"]
    whisper = load_whisper_files(case.weights("whisper.safetensors"),
                                 case.weights("whisper_config.json"),
                                 case.weights("whisper_preprocessor_config.json"),
                                 dtype=torch.float32)
    audio2token = load_adapter(Audio2Token, case.weights("audio2token.safetensors"),
                               kwargs=case.config("audio2token_config.json")["kwargs"])
    audio2bucket = load_adapter(Audio2Bucket, case.weights("audio2bucket.safetensors"),
                                kwargs=case.config("audio2bucket_config.json")["kwargs"])
    features = extract_audio_features(case.input(case.params["audio"]["file"]), whisper,
                                      frame_limit=settings["frame_num"])
    clip = case.tensor("audio_cond/clip_image_embeds")
    conditioning = audio_conditioning(features, audio2token, audio2bucket, clip,
                                      step=settings["step"])
    return GoldenRun(case, features, conditioning)


def test_golden_sizes_follow_the_audio_length(golden: GoldenRun) -> None:
    params = golden.case.params
    assert golden.features.num_samples == params["audio"]["num_samples"]
    assert golden.features.audio_len == params["audio_len_25fps"]
    assert golden.conditioning.num_frames == params["num_generated_frames"]


def _check(golden: GoldenRun, stage: str, actual: dict[str, torch.Tensor]) -> None:
    for key, value in actual.items():
        assert_close(golden.case, f"{stage}/{key}", value)


def test_golden_whisper_features_and_prompts(golden: GoldenRun) -> None:
    features = golden.features
    _check(golden, "audio", {"whisper_input_features": features.input_features,
                             "whisper_hidden_states": features.hidden_states,
                             "audio_prompts": features.prompts,
                             "last_audio_prompts": features.last_prompts})


def test_golden_audio_tokens_and_motion_buckets(golden: GoldenRun) -> None:
    conditioning = golden.conditioning
    _check(golden, "audio_cond", {"audio_tokens_cond": conditioning.tokens_cond,
                                  "audio_tokens_uncond": conditioning.tokens_uncond,
                                  "audio2bucket_raw": conditioning.bucket_raw,
                                  "motion_buckets": conditioning.motion_buckets})


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_checkpoint_with_a_missing_key_names_the_key_and_the_file(tmp_path: Path,
                                                                     suffix: str) -> None:
    kwargs = {"seq_len": 2, "blocks": 1, "channels": 3, "intermediate_dim": 4, "output_dim": 5,
              "context_tokens": 2}
    state = Audio2Token(**kwargs).state_dict()
    del state["norm.bias"]
    path = tmp_path / f"audio2token{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    with pytest.raises(ModelsMissing) as caught:
        load_adapter(Audio2Token, path, kwargs=kwargs)
    assert str(path) in str(caught.value) and "missing keys (1): norm.bias" in str(caught.value)


def test_a_checkpoint_with_the_wrong_shapes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audio2bucket.safetensors"
    small = {"seq_len": 2, "blocks": 1, "channels": 3, "clip_channels": 4, "intermediate_dim": 4}
    save_file(Audio2Bucket(**small).state_dict(), str(path))
    with pytest.raises(ModelsMissing, match=r"wrong shapes \(\d+\): proj1.weight"):
        load_adapter(Audio2Bucket, path, kwargs={**small, "clip_channels": 5})


def test_whisper_loads_from_a_hugging_face_folder(tmp_path: Path) -> None:
    case = CASES[0]
    weights = case / "weights"
    model = WhisperModel(WhisperConfig(**json.loads((weights / "whisper_config.json").read_text())))
    model.load_state_dict(load_file(str(weights / "whisper.safetensors")))
    model.save_pretrained(tmp_path)
    WhisperFeatureExtractor(**json.loads(
        (weights / "whisper_preprocessor_config.json").read_text())).save_pretrained(tmp_path)
    expected = load_file(str(case / "expected" / "audio.safetensors"))
    hidden = encode(expected["whisper_input_features"], load_whisper(tmp_path).encoder)
    assert (hidden - expected["whisper_hidden_states"]).abs().max() <= 5e-6


def test_audio_too_short_for_one_frame_is_an_input_error() -> None:
    audio2token = Audio2Token(channels=3, intermediate_dim=4, output_dim=5, context_tokens=2)
    audio2bucket = Audio2Bucket(channels=3, clip_channels=4, intermediate_dim=4)
    features = AudioFeatures(num_samples=1000, audio_len=1,
                             input_features=torch.zeros(1, 80, 3000),
                             hidden_states=torch.zeros(1, 1500, 5, 3),
                             prompts=torch.zeros(1, 12, 5, 3),
                             last_prompts=torch.zeros(1, 52, 1, 3))
    with pytest.raises(InputError, match="too short"):
        audio_conditioning(features, audio2token, audio2bucket, torch.zeros(1, 4))


def test_an_undecodable_audio_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    path.write_bytes(b"not audio" * 100)
    with pytest.raises(InputError, match="cannot decode"):
        load_audio(path)
