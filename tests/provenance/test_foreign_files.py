"""Other producers' C2PA files: a camera-like tool signs a PNG, a WAV and an MP4 with its own
PKI and manifest (no watermark of ours). Verification must judge them on their merits."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import c2pa
import pytest
from PIL import Image

from sonic_ext import Settings, SonicService
from sonic_ext.provenance.keys import init_dev_keys, load_dev_credentials
from sonic_ext.provenance.trust import TrustPolicy

from .conftest import moving_frames, write_mp4

MIME = {".png": "image/png", ".wav": "audio/wav", ".mp4": "video/mp4"}
DESCRIPTION = "captured by OtherCam firmware 7"


@pytest.fixture(scope="module")
def other_producer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another organisation's keys: a root this installation does not know."""
    return tmp_path_factory.mktemp("othercam")


def _plain(kind: str, folder: Path) -> Path:
    path = folder / f"plain{kind}"
    if kind == ".png":
        Image.new("RGB", (320, 240), (30, 120, 200)).save(path)
    elif kind == ".wav":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(bytes(range(256)) * 250)
    else:
        write_mp4(path, moving_frames(25, 256))
    return path


def _signed_by_other(kind: str, folder: Path, keys: Path) -> Path:
    files = init_dev_keys(keys)
    credentials = load_dev_credentials(keys)
    manifest = {
        "claim_generator_info": [{"name": "OtherCam", "version": "7.0"}],
        "title": f"capture{kind}",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{
            "action": "c2pa.created", "description": DESCRIPTION,
            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
        }]}}],
    }
    source, dest = _plain(kind, folder), folder / f"signed{kind}"
    trust = TrustPolicy(files.root_cert.read_bytes())
    with trust.context() as context, c2pa.Builder(manifest, context=context) as builder, \
            credentials.make_signer() as signer, source.open("rb") as src, \
            dest.open("w+b") as dst:
        builder.sign(signer, MIME[kind], src, dst)
    return dest


def _flip(path: Path, needle: bytes, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[data.index(needle) + 2] ^= 0x01
    out.write_bytes(bytes(data))
    return out


@pytest.fixture
def auditor(tmp_path: Path) -> SonicService:
    return SonicService(Settings.from_environment({}, home=tmp_path / "auditor"))


@pytest.mark.parametrize("kind", [".png", ".wav", ".mp4"])
def test_a_valid_foreign_file_is_untrusted_until_its_root_is_trusted(
        kind: str, tmp_path: Path, other_producer: Path, auditor: SonicService) -> None:
    signed = _signed_by_other(kind, tmp_path, other_producer)
    report = auditor.verify(signed)
    assert report.verdict == "valid-untrusted", report.reasons
    assert report.c2pa["claim_generator"][0]["name"] == "OtherCam"
    root = other_producer / "dev-root-ca.pem"
    assert auditor.verify(signed, trust_anchors=root).verdict == "authentic"


@pytest.mark.parametrize("kind", [".png", ".mp4"])
def test_a_tampered_foreign_assertion_or_signature_is_tampered(
        kind: str, tmp_path: Path, other_producer: Path, auditor: SonicService) -> None:
    signed = _signed_by_other(kind, tmp_path, other_producer)
    root = other_producer / "dev-root-ca.pem"
    edited = _flip(signed, DESCRIPTION.encode(), tmp_path / f"edited{kind}")
    report = auditor.verify(edited, trust_anchors=root)
    assert report.verdict == "tampered"
    assert "assertion" in json.dumps(report.c2pa["failures"])
    forged = _flip(signed, b"OtherCam", tmp_path / f"forged{kind}")  # inside the signed claim
    assert auditor.verify(forged, trust_anchors=root).verdict == "tampered"


@pytest.mark.parametrize("kind", [".png", ".wav", ".mp4"])
def test_a_file_without_a_manifest_has_no_provenance(kind: str, tmp_path: Path,
                                                     auditor: SonicService) -> None:
    assert auditor.verify(_plain(kind, tmp_path)).verdict == "no-provenance"


def test_trust_anchors_and_allowed_ekus_come_from_files(tmp_path: Path,
                                                        other_producer: Path) -> None:
    signed = _signed_by_other(".png", tmp_path, other_producer)
    ekus = tmp_path / "ekus.txt"
    ekus.write_text("# only emailProtection\n1.3.6.1.5.5.7.3.4\n")
    configured = SonicService(Settings.from_environment({
        "SONIC_TRUST_ANCHORS": str(other_producer / "dev-root-ca.pem"),
        "SONIC_ALLOWED_EKUS": str(ekus)}, home=tmp_path / "configured"))
    assert configured.trust_policy().allowed_ekus == ("1.3.6.1.5.5.7.3.4",)
    assert configured.verify(signed).verdict == "authentic"
