"""Publishing is all or nothing: a signed, verified, recorded MP4 at the final path, or nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sonic_ext.errors import Cancelled, SigningError
from sonic_ext.provenance.keys import DEV_LABEL, DevKeyFiles, SigningCredentials
from sonic_ext.provenance.manifest import file_sha256
from sonic_ext.provenance.publish import GenerationRecord

from .conftest import MakeFacts, MarkedWriter, moving_frames, publish_marked, write_mp4

WATERMARK_ID = "a1b2c3d4e5f6"
Writer = Callable[[Path], None]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs"
    folder.mkdir()
    return folder


@pytest.fixture
def writer(marked_writer: MarkedWriter) -> Writer:
    return marked_writer(WATERMARK_ID)


@pytest.fixture
def records() -> list[GenerationRecord]:
    return []


def _other_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def test_a_published_output_is_signed_verified_and_recorded(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials, records: list[GenerationRecord]) -> None:
    final = out_dir / "talking-head.mp4"
    result = publish_marked(final, writer, make_facts(WATERMARK_ID), dev_credentials,
                            records.append)
    assert list(out_dir.iterdir()) == [final]
    assert result.validation_state == "Trusted" and result.credentials == DEV_LABEL
    assert result.sha256 == file_sha256(final) and result.watermark_id == WATERMARK_ID
    assert result.watermark_confidence > 0.9
    assert [r.status for r in records] == ["published"]
    record = records[0]
    assert record.output_sha256 == result.sha256 and record.output_path == final
    assert record.watermark_id == WATERMARK_ID and record.manifest_json == result.manifest_json
    assert record.consent["consent_id"] == "consent-record-7f3a"
    assert DEV_LABEL in record.manifest_json and record.signer["credentials"] == DEV_LABEL


def test_an_unsigned_file_handed_over_is_consumed(out_dir: Path, make_facts: MakeFacts,
                                                  dev_credentials: SigningCredentials,
                                                  marked_writer: MarkedWriter,
                                                  records: list[GenerationRecord]) -> None:
    unsigned = out_dir / "encoded.mp4"
    marked_writer(WATERMARK_ID)(unsigned)
    final = out_dir / "final.mp4"
    publish_marked(final, unsigned, make_facts(WATERMARK_ID), dev_credentials,
                   records.append)
    assert list(out_dir.iterdir()) == [final]


def _assert_nothing_published(out_dir: Path, records: list[GenerationRecord]) -> None:
    assert list(out_dir.iterdir()) == []
    assert records and records[-1].status == "failed" and records[-1].output_sha256 is None


def test_a_key_that_does_not_match_the_certificate_leaves_no_file(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials, records: list[GenerationRecord]) -> None:
    bad = replace(dev_credentials, private_key_pem=_other_key_pem())
    with pytest.raises(SigningError):
        publish_marked(out_dir / "o.mp4", writer, make_facts(WATERMARK_ID), bad,
                       records.append)
    _assert_nothing_published(out_dir, records)


def test_an_unreachable_timestamp_authority_leaves_no_file(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials, records: list[GenerationRecord],
        closed_port_url: str) -> None:
    with_tsa = replace(dev_credentials, tsa_url=closed_port_url)
    with pytest.raises(SigningError, match="timestamp authority"):
        publish_marked(out_dir / "o.mp4", writer, make_facts(WATERMARK_ID), with_tsa,
                       records.append)
    _assert_nothing_published(out_dir, records)
    assert "timestamp authority" in (records[-1].error or "")


def test_frames_without_the_watermark_are_not_published(
        out_dir: Path, make_facts: MakeFacts, dev_credentials: SigningCredentials,
        records: list[GenerationRecord]) -> None:
    def unmarked(path: Path) -> None:
        write_mp4(path, moving_frames(25, size=256))

    with pytest.raises(SigningError, match="does not carry watermark"):
        publish_marked(out_dir / "o.mp4", unmarked, make_facts(WATERMARK_ID),
                       dev_credentials, records.append)
    _assert_nothing_published(out_dir, records)


def test_a_registry_that_cannot_record_stops_the_publish(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials, records: list[GenerationRecord]) -> None:
    def flaky_registry(record: GenerationRecord) -> None:
        records.append(record)
        if record.status == "published":
            raise RuntimeError("database is locked")

    with pytest.raises(SigningError, match="database is locked"):
        publish_marked(out_dir / "o.mp4", writer, make_facts(WATERMARK_ID),
                       dev_credentials, flaky_registry)
    assert [r.status for r in records] == ["published", "failed"]
    assert list(out_dir.iterdir()) == []


def test_a_cancelled_encode_passes_through_and_leaves_no_temp_file(
        out_dir: Path, make_facts: MakeFacts, dev_credentials: SigningCredentials,
        records: list[GenerationRecord]) -> None:
    def cancelled(path: Path) -> None:
        path.write_bytes(b"half an mp4")
        raise Cancelled("cancelled by the user")

    with pytest.raises(Cancelled):
        publish_marked(out_dir / "o.mp4", cancelled, make_facts(WATERMARK_ID),
                       dev_credentials, records.append)
    _assert_nothing_published(out_dir, records)


def test_the_signing_key_never_reaches_logs_records_or_outputs(
        out_dir: Path, writer: Writer, make_facts: MakeFacts, keys_dir: Path,
        dev_credentials: SigningCredentials, records: list[GenerationRecord],
        caplog: pytest.LogCaptureFixture) -> None:
    key_pem = DevKeyFiles.under(keys_dir).key.read_bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)
    secrets = [line for line in key_pem.decode().splitlines() if "PRIVATE" not in line]
    secrets.append(format(key.private_numbers().private_value, "x"))
    caplog.set_level(logging.DEBUG)
    result = publish_marked(out_dir / "ok.mp4", writer, make_facts(WATERMARK_ID),
                            dev_credentials, records.append)
    with pytest.raises(SigningError) as failure:
        publish_marked(out_dir / "bad.mp4", writer, make_facts(WATERMARK_ID),
                       replace(dev_credentials, private_key_pem=_other_key_pem()),
                       records.append)
    seen = "\n".join([caplog.text, result.manifest_json, repr(result), str(failure.value),
                      *map(repr, records), repr(dev_credentials),
                      result.path.read_bytes().decode("latin-1")])
    assert "published ok.mp4" in caplog.text
    for secret in secrets:
        assert secret not in seen
