"""Inputs are recognised by what they hold, not by their names, and broken ones are refused
before the consent gate (issue 15: each of these ran a whole generation, or was a 500, before).
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from sonic_ext import GenerateRequest, GenerationParams, InputError, SonicService
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
FAST = GenerationParams(steps=1, min_resolution=256, seed=0)


def _aac_in_mp4(path: Path, seconds: float = 1.5, rate: int = 16000) -> Path:
    """Speech-like AAC audio in an MP4 container, written wherever `path` says."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    with av.open(str(path), "w", format="ipod") as container:  # an .m4a, brand "M4A "
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="flt",
                                               layout="mono")
            frame.sample_rate = rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_a_bmp_without_extension_and_aac_named_wav_generate_with_their_real_media_types(
        obama_consented: SonicService, tmp_path: Path) -> None:
    from sonic_ext.provenance.reading import read_provenance
    from sonic_ext.provenance.trust import TrustPolicy

    portrait = tmp_path / "portrait"  # a BMP, with no extension at all
    Image.open(FACES / "obama2.jpg").convert("RGB").save(portrait, format="BMP")
    speech = _aac_in_mp4(tmp_path / "speech.wav")  # the name lies about the container
    out = tmp_path / "talking.mp4"
    obama_consented.generate(GenerateRequest(portrait, speech, out, "education", FAST,
                                             consent_ids=consent_ids(obama_consented)))
    reading = read_provenance(out, TrustPolicy.for_keys_dir(obama_consented.settings.keys_dir),
                              obama_consented.watermark_key(create=False))
    assert reading.manifest is not None
    manifest = reading.manifest.store["manifests"][reading.manifest.store["active_manifest"]]
    formats = {item["title"]: item["format"] for item in manifest["ingredients"]}
    assert formats == {"portrait": "image/bmp", "speech.wav": "audio/mp4"}


@pytest.mark.parametrize(("container", "codec", "media_type"), [
    ("mp3", "libmp3lame", "audio/mpeg"), ("flac", "flac", "audio/flac"),
    ("ipod", "aac", "audio/mp4"), ("mp4", "aac", "video/mp4"), ("wav", "pcm_s16le", "audio/wav"),
])
def test_speech_is_told_by_its_content_whatever_its_name(tmp_path: Path, container: str,
                                                         codec: str, media_type: str) -> None:
    from sonic_ext.media.inputs import check_audio, media_type_of

    clip = tmp_path / "speech.ogg"  # the name says Ogg; none of these is
    rate = 16000
    with av.open(str(clip), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        samples = _speech_samples(1.0, rate).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    assert check_audio(clip).media_type == media_type
    assert media_type_of(clip, "audio") == media_type


def _wav_header(bits: int, fmt_code: int = 1, channels: int = 1, rate: int = 16000,
                frames: int = 16000) -> bytes:
    block = channels * max(bits, 8) // 8
    data = frames * block
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, fmt_code, channels, rate, rate * block,
                                    block, bits)
            + b"data" + struct.pack("<I", data) + b"\x01" * data)


def _float_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    data = samples.astype("<f4").tobytes()
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, rate, rate * 4, 4, 32)
                     + b"data" + struct.pack("<I", len(data)) + data)
    return path


def _speech_samples(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)


@pytest.mark.parametrize("name", ["zero bits per sample", "NaN samples", "infinite samples",
                                  "an MP4 with no audio"])
def test_broken_audio_is_refused_by_name_before_the_gate(service: SonicService, portrait: Path,
                                                         tmp_path: Path, name: str) -> None:
    audio = tmp_path / "speech.wav"
    if name == "zero bits per sample":
        audio.write_bytes(_wav_header(bits=0))
    elif name == "an MP4 with no audio":
        with av.open(str(audio), "w", format="mp4") as container:
            stream = container.add_stream("mpeg4", rate=25)
            stream.width = stream.height = 64
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)
    else:
        samples = _speech_samples()
        samples[100:200] = np.nan if name == "NaN samples" else np.inf
        _float_wav(audio, samples)
    with pytest.raises(InputError) as refused:  # InputError, not ConsentRefused: before the gate
        service.generate(GenerateRequest(portrait, audio, tmp_path / "out.mp4", "general",
                                         FAST, consent_ids=("consent-0",)))
    assert refused.value.field == "audio"
    assert not (tmp_path / "out.mp4").exists()


def test_a_16_bit_greyscale_portrait_is_the_same_face(obama_consented: SonicService,
                                                      tmp_path: Path) -> None:
    grey = np.asarray(Image.open(FACES / "obama2.jpg").convert("L"), dtype=np.uint16) * 257
    portrait = tmp_path / "obama16.png"
    Image.fromarray(grey).save(portrait)  # PIL writes uint16 arrays as 16-bit greyscale PNG
    assert Image.open(portrait).mode.startswith("I")
    decision = obama_consented.check_consent(portrait, "education", "test",
                                             consent_ids(obama_consented))
    assert decision.subject_name == "Barack Obama"


def test_an_oversized_image_names_its_size_and_the_limit(service: SonicService,
                                                         tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    # a 20000x20000 PNG header is all PIL reads before refusing: write just that much
    Image.new("1", (20000, 20000)).save(huge, optimize=True)
    with pytest.raises(InputError) as refused:
        service.check_generate_request(GenerateRequest(
            huge, write_tone_wav(tmp_path / "s.wav"), tmp_path / "o.mp4", "general", FAST,
            consent_ids=("consent-0",)))
    assert "400,000,000 pixels" in str(refused.value) and "64,000,000" in str(refused.value)


def test_a_wav_with_a_truncated_header_is_refused(service: SonicService, portrait: Path,
                                                  tmp_path: Path) -> None:
    audio = tmp_path / "speech.wav"
    write_tone_wav(audio)
    with wave.open(str(audio)) as reader:
        assert reader.getnframes() > 0
    audio.write_bytes(audio.read_bytes()[:40])  # RIFF/WAVE, but the fmt chunk is cut off
    with pytest.raises(InputError) as refused:
        service.check_generate_request(GenerateRequest(portrait, audio, tmp_path / "o.mp4",
                                                       "general", FAST,
                                                       consent_ids=("consent-0",)))
    assert refused.value.field == "audio"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_folder_nobody_can_write_is_refused_before_the_gate(
        service: SonicService, portrait: Path, tmp_path: Path) -> None:
    # /proc is a folder that even root cannot create files in (chmod does not stop root)
    with pytest.raises(InputError, match="cannot write in the output folder /proc") as refused:
        service.generate(GenerateRequest(portrait, write_tone_wav(tmp_path / "s.wav"),
                                         Path("/proc/talking.mp4"), "general", FAST,
                                         consent_ids=("consent-0",)))
    assert refused.value.field == "out"
