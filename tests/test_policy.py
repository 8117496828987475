from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from sonic_ext import GenerateRequest, InputError, Settings, SonicService
from sonic_ext.policy import DEFAULT_POLICY, load_policy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.toml"
    path.write_text(text)
    return path


def test_default_policy_is_valid_and_unrestricted_in_purposes() -> None:
    policy = load_policy()
    assert policy.sources == (DEFAULT_POLICY,)
    assert policy.allowed_purposes == ()
    assert policy.max_audio_seconds == 600
    assert policy.data["provenance"]["allow_unsigned_output"] is False


def test_a_deployment_file_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, 'version = "acme-1"\n[purposes]\nallowed = ["education"]\n'
                                         '[identity.thresholds]\n"custom/model" = 0.5\n'))
    assert policy.version == "acme-1"
    assert policy.allowed_purposes == ("education",)
    assert policy.threshold("custom/model") == 0.5
    assert policy.threshold("insightface/buffalo_l") == 0.45
    assert policy.data["faces"]["min_size_px"] == 64


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[faces]\nmin_size_px = 0\n", "faces.min_size_px", "0 is less than the minimum of 16"),
    ("[faces]\nmin_sise_px = 80\n", "faces", "'min_sise_px' was unexpected"),
    ("[provenance]\nallow_unsigned_output = true\n", "provenance.allow_unsigned_output",
     "False was expected"),
    ("[identity]\nbackend = \"opencv\"\n", "identity.backend", "'opencv' is not one of"),
    ("[purposes]\nallowed = [\"two words\"]\n", "purposes.allowed.0", "does not match"),
    ("[generation]\nmax_audio_seconds = \"10 min\"\n", "generation.max_audio_seconds",
     "is not of type 'number'"),
])
def test_an_invalid_policy_names_the_bad_key(tmp_path: Path, text: str, key: str,
                                             problem: str) -> None:
    with pytest.raises(InputError) as caught:
        load_policy(write(tmp_path, text))
    assert caught.value.field.endswith(f"deployment.toml: {key}")
    assert problem in caught.value.problem


def test_broken_toml_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid TOML"):
        load_policy(write(tmp_path, "[faces\n"))
    with pytest.raises(InputError, match="policy: file not found"):
        load_policy(tmp_path / "absent.toml")


def test_a_model_without_a_threshold_is_refused() -> None:
    with pytest.raises(InputError, match="no threshold for this face model"):
        load_policy().threshold("unknown/model")


def test_service_refuses_to_start_with_an_invalid_policy(tmp_path: Path) -> None:
    settings = Settings.from_environment({}, home=tmp_path / "h",
                                         policy_path=write(tmp_path, "surprise = 1\n"))
    with pytest.raises(InputError, match="'surprise' was unexpected"):
        SonicService(settings)


def test_generation_purpose_must_be_allowed_by_the_policy(tmp_path: Path, portrait: Path,
                                                          speech_wav: Path) -> None:
    settings = Settings.from_environment({}, home=tmp_path / "h", policy_path=write(
        tmp_path, '[purposes]\nallowed = ["education", "news"]\n'))
    service = SonicService(settings)
    request = GenerateRequest(portrait, speech_wav, tmp_path / "o.mp4", purpose="marketing",
                              consent_ids=("con_claimed",))
    with pytest.raises(InputError, match="purpose: 'marketing' is not a purpose") as caught:
        service.generate(request)
    assert caught.value.hint == "the policy allows: education, news"


def test_the_policys_pixel_limits_refuse_portraits_and_videos_naming_the_limit(
        tmp_path: Path, portrait: Path, speech_wav: Path) -> None:
    settings = Settings.from_environment({}, home=tmp_path / "h", policy_path=write(
        tmp_path, "[limits]\nmax_image_pixels = 65536\nmax_video_frame_pixels = 65536\n"))
    service = SonicService(settings)
    request = GenerateRequest(portrait, speech_wav, tmp_path / "o.mp4", purpose="general",
                              consent_ids=("con_claimed",))
    service.check_generate_request(request)  # 256x256: at the limit, accepted
    Image.new("RGB", (257, 256)).save(portrait)
    with pytest.raises(InputError, match=r"image is 257x256 \(65,792 pixels\), over the "
                                         "65,536-pixel limit"):
        service.check_generate_request(request)
    video = tmp_path / "wide.mp4"
    with av.open(str(video), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(
            np.zeros((240, 320, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    with pytest.raises(InputError, match="video frames are 320x240 .76,800 pixels., over the "
                                         "65,536-pixel limit"):
        service.verify(video)


@pytest.mark.parametrize("text", ["[limits]\nmax_image_pixels = 100000000\n",
                                  "[limits]\nmax_video_frame_pixels = 1000\n"])
def test_pixel_limits_stay_within_what_the_readers_can_bound(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="limits.max_"):
        load_policy(write(tmp_path, text))
