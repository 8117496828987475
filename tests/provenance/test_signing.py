"""C2PA: what we sign reads back Trusted, says what it must, and any tampering shows."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import c2pa
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sonic_ext._version import __version__
from sonic_ext.errors import SigningError
from sonic_ext.provenance.keys import (
    DEV_LABEL,
    DevKeyFiles,
    SigningCredentials,
    callback_credentials,
)
from sonic_ext.provenance.manifest import (
    CONSENT_LABEL,
    GENERATION_LABEL,
    SHA256_KEY,
    SOFT_BINDING_ALG,
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationFacts,
    InputFile,
    file_sha256,
)
from sonic_ext.provenance.reading import UNREADABLE, read_manifest
from sonic_ext.provenance.sign import sign_mp4
from sonic_ext.provenance.trust import TrustPolicy

from .conftest import MakeFacts, moving_frames, write_mp4

WATERMARK_ID = "0123456789ab"


@pytest.fixture(scope="module")
def unsigned_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("unsigned") / "unsigned.mp4",
                     moving_frames(25, size=256))


@pytest.fixture(scope="module")
def signed_mp4(unsigned_mp4: Path, dev_credentials: SigningCredentials, inputs_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    facts = GenerationFacts(
        portrait=InputFile.of(inputs_dir / "portrait.png", "portrait"),
        audio=InputFile.of(inputs_dir / "speech.wav", "audio"),
        watermark_id=WATERMARK_ID, model_checksums={"Sonic/unet.pth": "ab" * 32},
        consent={"decision": "allowed", "consent_id": "consent-record-7f3a"},
        parameters={"seed": 0, "inference_steps": 25}, title="talking-head.mp4")
    dest = tmp_path_factory.mktemp("signed") / "signed.mp4"
    sign_mp4(unsigned_mp4, dest, facts, dev_credentials)
    return dest


@pytest.fixture(scope="module")
def dev_trust(keys_dir: Path) -> TrustPolicy:
    return TrustPolicy(DevKeyFiles.under(keys_dir).root_cert.read_bytes())


def test_signed_output_is_trusted_with_the_dev_root_as_anchor(signed_mp4: Path,
                                                             dev_trust: TrustPolicy) -> None:
    reading = read_manifest(signed_mp4, dev_trust)
    assert reading is not None and reading.validation_state == "Trusted"
    assert reading.failures == ()
    assert {"signingCredential.trusted", "claimSignature.validated",
            "assertion.bmffHash.match"} <= set(reading.success_codes)


def test_without_the_anchor_it_is_valid_but_untrusted(signed_mp4: Path) -> None:
    reading = read_manifest(signed_mp4, TrustPolicy())
    assert reading is not None and reading.validation_state == "Valid"
    assert [f["code"] for f in reading.failures] == ["signingCredential.untrusted"]


def test_manifest_records_generator_actions_soft_binding_inputs_and_our_assertions(
        signed_mp4: Path, dev_trust: TrustPolicy, inputs_dir: Path) -> None:
    reading = read_manifest(signed_mp4, dev_trust)
    assert reading is not None
    active = reading.active
    assert active["claim_generator_info"][0]["name"] == "sd-webui-sonic"
    assert active["claim_generator_info"][0]["version"] == __version__
    assert any(a["label"] == "c2pa.hash.bmff.v3" for a in active["assertions"])

    created, watermarked = reading.assertion("c2pa.actions.v2")["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert "Sonic" in created["softwareAgent"]["name"]
    assert created["softwareAgent"]["version"] == __version__
    assert created["parameters"]["models"] == {"Sonic/unet.pth": "ab" * 32}
    assert len(created["parameters"]["ingredients"]) == 2
    assert watermarked["action"] == "c2pa.watermarked"

    binding = reading.assertion("c2pa.soft-binding")
    assert binding["alg"] == SOFT_BINDING_ALG and reading.watermark_id == WATERMARK_ID

    ingredients = {i["title"]: i for i in active["ingredients"]}
    assert set(ingredients) == {"portrait.png", "speech.wav"}
    for title, ingredient in ingredients.items():
        assert ingredient["relationship"] == "inputTo"
        assert ingredient["metadata"][SHA256_KEY] == file_sha256(inputs_dir / title)

    assert reading.assertion(CONSENT_LABEL)["consent_id"] == "consent-record-7f3a"
    generation = reading.assertion(GENERATION_LABEL)
    assert generation["signing_credentials"] == DEV_LABEL and reading.development_credentials
    assert generation["parameters"] == {"seed": 0, "inference_steps": 25}


def _top_level_box(data: bytes, kind: bytes) -> tuple[int, int]:
    offset = 0
    while offset < len(data):
        size, box = struct.unpack(">I4s", data[offset:offset + 8])
        if box == kind:
            return offset, size
        offset += size
    raise AssertionError(f"no {kind!r} box")


def _tampered(signed: Path, dest: Path, edit: Callable[[bytearray], None]) -> Path:
    data = bytearray(signed.read_bytes())
    edit(data)
    dest.write_bytes(bytes(data))
    return dest


def test_a_flipped_mdat_byte_is_detected(signed_mp4: Path, dev_trust: TrustPolicy,
                                         tmp_path: Path) -> None:
    def flip_mdat(data: bytearray) -> None:
        offset, size = _top_level_box(bytes(data), b"mdat")
        data[offset + size // 2] ^= 0x01

    reading = read_manifest(_tampered(signed_mp4, tmp_path / "t.mp4", flip_mdat), dev_trust)
    assert reading is not None and reading.validation_state == "Invalid"
    assert "assertion.bmffHash.mismatch" in [f["code"] for f in reading.failures]


def test_a_flipped_byte_in_the_consent_assertion_is_detected(signed_mp4: Path,
                                                             dev_trust: TrustPolicy,
                                                             tmp_path: Path) -> None:
    def flip_consent(data: bytearray) -> None:
        at = bytes(data).index(b"consent-record-7f3a")
        assert bytes(data).count(b"consent-record-7f3a") == 1
        data[at + len("consent-record-")] ^= 0x01  # "7" -> "6"

    reading = read_manifest(_tampered(signed_mp4, tmp_path / "t.mp4", flip_consent), dev_trust)
    assert reading is not None and reading.validation_state == "Invalid"
    mismatches = [f for f in reading.failures if f["code"] == "assertion.hashedURI.mismatch"]
    assert mismatches and CONSENT_LABEL in mismatches[0]["explanation"]


def test_an_unsigned_file_has_no_manifest(unsigned_mp4: Path, dev_trust: TrustPolicy) -> None:
    assert read_manifest(unsigned_mp4, dev_trust) is None


def test_a_callback_signer_produces_a_trusted_file(unsigned_mp4: Path, keys_dir: Path,
                                                   make_facts: MakeFacts, tmp_path: Path) -> None:
    files = DevKeyFiles.under(keys_dir)
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    calls: list[int] = []

    def kms_sign(data: bytes) -> bytes:  # stands in for a KMS/HSM API call
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    credentials = callback_credentials(files.chain.read_bytes(), kms_sign,
                                       c2pa.C2paSigningAlg.ES256,
                                       trust_anchors_pem=files.root_cert.read_bytes())
    signed = sign_mp4(unsigned_mp4, tmp_path / "kms.mp4", make_facts(WATERMARK_ID), credentials)
    assert calls and signed.reading.validation_state == "Trusted"
    assert signed.signer["signer"] == "callback"
    assert signed.reading.assertion(GENERATION_LABEL)["signing_credentials"] == \
        "production credentials"


def test_an_unreachable_timestamp_authority_fails_signing_clearly(
        unsigned_mp4: Path, dev_credentials: SigningCredentials, make_facts: MakeFacts,
        tmp_path: Path, closed_port_url: str) -> None:
    credentials = replace(dev_credentials, tsa_url=closed_port_url)
    with pytest.raises(SigningError, match="timestamp authority"):
        sign_mp4(unsigned_mp4, tmp_path / "tsa.mp4", make_facts(WATERMARK_ID), credentials)
    assert not (tmp_path / "tsa.mp4").exists()


def test_c2pa_data_too_damaged_to_parse_reads_as_invalid(signed_mp4: Path,
                                                         dev_trust: TrustPolicy,
                                                         tmp_path: Path) -> None:
    def break_jumbf(data: bytearray) -> None:
        offset, _ = _top_level_box(bytes(data), b"uuid")
        data[offset + 60] ^= 0xFF  # inside the JUMBF description box header

    reading = read_manifest(_tampered(signed_mp4, tmp_path / "t.mp4", break_jumbf), dev_trust)
    assert reading is not None and reading.validation_state == "Invalid"
    assert [f["code"] for f in reading.failures] == [UNREADABLE]
    assert reading.active == {} and reading.watermark_id is None
