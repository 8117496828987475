"""Reading provenance back: the signed original, and a stripped copy traced by its watermark."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sonic_ext.errors import InputError
from sonic_ext.provenance.keys import SigningCredentials
from sonic_ext.provenance.reading import read_provenance
from sonic_ext.provenance.trust import TrustPolicy
from sonic_ext.provenance.watermark import detect_video

from .conftest import (
    MARK_KEY,
    MakeFacts,
    MarkedWriter,
    Published,
    publish_marked,
    reencode,
)

WATERMARK_ID = "feedfacecafe"


@pytest.fixture
def published(tmp_path: Path, marked_writer: MarkedWriter, make_facts: MakeFacts,
              dev_credentials: SigningCredentials) -> Published:
    return publish_marked(tmp_path / "out.mp4", marked_writer(WATERMARK_ID, 50, 512),
                          make_facts(WATERMARK_ID), dev_credentials)


def _unrelated_root() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "someone else's root")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1))
            .not_valid_after(dt.datetime(2040, 1, 1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_signed_output_reads_back_both_halves(published: Published,
                                                  keys_dir: Path) -> None:
    trust = TrustPolicy.for_keys_dir(keys_dir).with_anchors(_unrelated_root())
    reading = read_provenance(published.path, trust, MARK_KEY)
    assert reading.manifest is not None
    assert reading.manifest.validation_state == "Trusted"
    assert reading.manifest.watermark_id == WATERMARK_ID == reading.watermark.watermark_id
    assert reading.manifest.consent["consent_id"] == "consent-record-7f3a"
    report = json.loads(json.dumps(reading.to_dict()))
    assert report["manifest"]["development_credentials"] is True
    assert report["watermark"]["present"] is True


def test_a_stripped_reencoded_copy_is_traced_by_its_watermark(published: Published,
                                                              tmp_path: Path) -> None:
    # a 0.5x platform re-encode (CRF 23); a 2 s clip at CRF 28 + 0.5x is a known miss (#12)
    copy = reencode(published.path, tmp_path / "reuploaded.mp4", crf=23, scale=0.5)
    reading = read_provenance(copy, TrustPolicy.for_keys_dir(tmp_path / "no-keys-here"),
                              MARK_KEY, known_ids=[WATERMARK_ID])  # the registry's, as verify
    assert reading.manifest is None
    assert reading.watermark.present and reading.watermark.watermark_id == WATERMARK_ID


def test_a_file_that_is_not_video_is_refused_clearly(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    with pytest.raises(InputError, match="cannot be decoded as video"):
        detect_video(not_video, MARK_KEY)
