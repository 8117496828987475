from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sonic_ext import (
    Cancelled,
    CancelToken,
    ConsentRefused,
    GenerateRequest,
    GenerationParams,
    InputError,
    NotAvailable,
    ProgressEvent,
    Settings,
    SonicService,
    __version__,
)
from tests.evidence import write_release_pdf

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"


def request(portrait: Path, audio: Path, out: Path, **params: object) -> GenerateRequest:
    return GenerateRequest(image=portrait, audio=audio, out=out, consent_ids=("con_claimed",),
                           params=GenerationParams(**params))  # type: ignore[arg-type]


def test_a_portrait_without_a_face_stops_at_the_gate_and_writes_nothing(
        service: SonicService, portrait: Path, speech_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    events: list[ProgressEvent] = []
    claimed = write_release_pdf(tmp_path / "release.pdf")
    consent = service.add_consent("Barack Obama", [FACES / "obama.jpg"], claimed, ["general"],
                                  None, "operator", grantees=["any"])
    with pytest.raises(ConsentRefused, match="no face found in the portrait") as caught:
        service.generate(GenerateRequest(portrait, speech_wav, out, consent_ids=(consent.id,)),
                         progress=events.append)
    assert caught.value.exit_code == 3
    assert [(e.stage, e.step, e.total) for e in events] == [("check inputs", 1, 1)]
    assert not out.exists()
    assert list(tmp_path.glob("*.mp4")) == []
    assert service.verify_audit_chain().ok
    assert service.verify_audit_chain().events_checked == 2  # the refusal is on record


def test_cancel_before_start_raises_cancelled(service: SonicService, portrait: Path,
                                              speech_wav: Path, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel("user pressed cancel")
    with pytest.raises(Cancelled, match="user pressed cancel"):
        service.generate(request(portrait, speech_wav, tmp_path / "o.mp4"), cancel=token)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("steps", 0, "steps: must be between 1 and 100"),
    ("seed", -1, "seed: must be between 0 and 4294967295"),
    ("dynamic_scale", 0.0, r"dynamic_scale: must be in \(0.0, 10.0\]"),
    ("dynamic_scale", float("nan"), "dynamic_scale: must be in"),
    ("min_resolution", 500, "min_resolution: must be a multiple of 64"),
    ("expand_ratio", -0.1, "expand_ratio: must be in"),
    ("dtype", "int8", "dtype: must be one of fp16, bf16, fp32"),
    ("device", "tpu", "device: must be one of auto, cpu, cuda"),
    ("offload", "disk", "offload: must be one of auto, none, model, sequential"),
    ("decode_chunk_size", 0, "decode_chunk_size: must be between 1 and 64"),
    ("crop", "yes", "crop: must be true or false"),
])
def test_out_of_range_parameters_name_the_field(service: SonicService, portrait: Path,
                                                speech_wav: Path, tmp_path: Path, field: str,
                                                value: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        service.generate(request(portrait, speech_wav, tmp_path / "o.mp4", **{field: value}))
    assert caught.value.field == field
    assert caught.value.exit_code == 2


def test_seed_zero_is_a_valid_seed() -> None:
    assert GenerationParams(seed=0).validate().seed == 0


def test_purpose_must_be_a_label(service: SonicService, portrait: Path, speech_wav: Path,
                                 tmp_path: Path) -> None:
    bad = GenerateRequest(portrait, speech_wav, tmp_path / "o.mp4", purpose="ads; DROP TABLE",
                          consent_ids=("con_claimed",))
    with pytest.raises(InputError, match="purpose: 'ads; DROP TABLE' is not a label"):
        service.generate(bad)


def _corrupt_jpeg(tmp_path: Path) -> Path:
    good = tmp_path / "full.jpg"
    Image.new("RGB", (256, 256), (10, 20, 30)).save(good, quality=95)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:300])
    return cut


@pytest.mark.parametrize(("make_image", "message"), [
    (lambda d: d / "missing.png", "image: file not found"),
    (lambda d: (d / "empty.png").touch() or d / "empty.png", "image: file is empty"),
    (lambda d: (d / "text.png").write_text("not an image") and d / "text.png",
     "image: not a readable image"),
    (_corrupt_jpeg, "image: image is corrupt or truncated"),
    (lambda d: Image.new("RGB", (32, 300)).save(d / "thin.png") or d / "thin.png",
     "image: image is 32x300; each side needs at least 64 pixels"),
    (lambda d: Image.new("RGB", (100, 100)).save(d / "a.gif") or d / "a.gif",
     "image: unsupported image format GIF"),
])
def test_bad_portraits_are_refused_with_a_specific_message(
        service: SonicService, speech_wav: Path, tmp_path: Path, make_image, message: str) -> None:
    with pytest.raises(InputError, match=message):
        service.generate(request(make_image(tmp_path), speech_wav, tmp_path / "o.mp4"))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "audio: file is empty"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28), "audio: WAV file holds no samples"),
    (b"OggS" + bytes(100), r"audio: not a speech clip in a format we read \(it holds audio/ogg\)"),
    (b"hello, this is text", "audio: not a speech clip in a format we read: "),
])
def test_bad_audio_is_refused_with_a_specific_message(service: SonicService, portrait: Path,
                                                      tmp_path: Path, content: bytes,
                                                      message: str) -> None:
    audio = tmp_path / "clip.wav"
    audio.write_bytes(content)
    with pytest.raises(InputError, match=message):
        service.generate(request(portrait, audio, tmp_path / "o.mp4"))


def test_output_must_be_a_new_mp4_in_an_existing_folder(service: SonicService, portrait: Path,
                                                        speech_wav: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="out: output must be an .mp4 file"):
        service.generate(request(portrait, speech_wav, tmp_path / "o.avi"))
    with pytest.raises(InputError, match="out: output folder does not exist"):
        service.generate(request(portrait, speech_wav, tmp_path / "nope" / "o.mp4"))
    existing = tmp_path / "done.mp4"
    existing.write_bytes(b"earlier output")
    with pytest.raises(InputError, match="out: output file exists already") as caught:
        service.generate(request(portrait, speech_wav, existing))
    assert caught.value.hint == "choose another name or pass --overwrite"
    assert existing.read_bytes() == b"earlier output"


def test_verify_refuses_what_it_cannot_read(service: SonicService, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file: file not found"):
        service.verify(tmp_path / "missing.mp4")
    doc = tmp_path / "notes.txt"
    doc.write_text("x")
    with pytest.raises(InputError, match=r"file: cannot verify \.txt"):
        service.verify(doc)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(InputError, match="file: not a readable video"):
        service.verify(clip)


def test_health_reports_version_home_models_and_capabilities(service: SonicService) -> None:
    health = service.health()
    assert health["version"] == __version__
    assert health["home"] == str(service.settings.home)
    assert health["models"] == {"models_dir": str(service.settings.models_dir), "ready": False,
                                "present": 0, "expected": 13, "test_weights": False}
    assert health["capabilities"] == {"consent_gate": True, "pipeline": True,
                                      "provenance": True, "verify": True, "generate": True}


def test_a_package_that_is_present_but_breaks_on_import_is_no_capability(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """As when diffusers cannot import from the huggingface_hub pip chose: installed, not
    working; /health must not claim the pipeline."""
    import sys

    monkeypatch.delitem(sys.modules, "sonic_ext.sonic.pipeline", raising=False)
    monkeypatch.setitem(sys.modules, "diffusers", None)  # what `import diffusers` then raises
    service = SonicService(settings)
    health = service.health()
    assert health["capabilities"]["pipeline"] is False
    assert health["capabilities"]["generate"] is False
    assert health["capabilities"]["provenance"] is True
    with pytest.raises(NotAvailable, match="lacks pipeline"):
        service._require(service.capabilities.generate, "generation")


def test_silent_short_and_overlong_speech_is_refused_before_any_model_loads(
        tmp_path: Path, portrait: Path) -> None:
    import wave

    from tests.conftest import write_tone_wav

    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(2 * 16000))
    policy = tmp_path / "policy.toml"
    policy.write_text("[generation]\nmax_audio_seconds = 2\n")
    strict = SonicService(Settings.from_environment({}, home=tmp_path / "h", policy_path=policy))
    cases = [(silent, "audio: clip is silent"),
             (write_tone_wav(tmp_path / "short.wav", seconds=0.3),
              "audio: clip is 0.30 s long; at least 0.5 s needed"),
             (write_tone_wav(tmp_path / "long.wav", seconds=2.5),
              "audio: clip is 2.5 s long; this installation accepts at most 2 s")]
    for clip, message in cases:
        with pytest.raises(InputError, match=message):
            strict.generate(request(portrait, clip, tmp_path / "o.mp4"))
    assert strict._registry is None  # refused before the registry (or any model) was touched


def test_a_generation_must_claim_a_consent(service: SonicService, portrait: Path,
                                           speech_wav: Path, tmp_path: Path) -> None:
    """Identity is claimed and verified 1:1: a request without a claim is bad input (exit 2,
    HTTP 422), refused before any face is analysed or anything is audited."""
    with pytest.raises(InputError, match="consent_id: name the consent") as caught:
        service.generate(GenerateRequest(portrait, speech_wav, tmp_path / "o.mp4"))
    assert caught.value.exit_code == 2 and "--consent" in caught.value.hint
    assert service.verify_audit_chain().events_checked == 0
