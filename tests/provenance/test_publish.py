"""Publishing is all or nothing: a signed, verified MP4 at the final path, or nothing, not even a
temp file; each step fails with its own error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sonic_ext.errors import Cancelled, InputError, PublishError, SigningError
from sonic_ext.provenance.keys import DEV_LABEL, DevKeyFiles, SigningCredentials
from sonic_ext.provenance.manifest import file_sha256
from sonic_ext.provenance.publish import Publication

from .conftest import (
    MARK_KEY,
    MakeFacts,
    MarkedWriter,
    moving_frames,
    publish_marked,
    write_mp4,
)

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


def _other_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def test_a_published_output_is_signed_and_verified(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials) -> None:
    final = out_dir / "talking-head.mp4"
    with Publication(final) as publication:
        writer(publication.unsigned)
        signed = publication.sign(make_facts(WATERMARK_ID), dev_credentials,
                                  watermark_key=MARK_KEY)
        assert not final.exists()  # only publish() moves it into place
        assert publication.publish() == final
    assert list(out_dir.iterdir()) == [final]
    assert signed.validation_state == "Trusted" and signed.credentials == DEV_LABEL
    assert signed.sha256 == file_sha256(final) and signed.watermark_id == WATERMARK_ID
    assert signed.watermark_confidence > 0.9
    assert signed.signer["credentials"] == DEV_LABEL
    active = signed.manifest["manifests"][signed.manifest["active_manifest"]]
    assert any(a["label"] == "org.sd-webui-sonic.consent" for a in active["assertions"])


def _assert_nothing_published(out_dir: Path) -> None:
    assert list(out_dir.iterdir()) == []  # no output, no temp file


def _publish(out_dir: Path, writer: Writer, make_facts: MakeFacts,
             credentials: SigningCredentials) -> None:
    publish_marked(out_dir / "o.mp4", writer, make_facts(WATERMARK_ID), credentials)


def test_a_key_that_does_not_match_the_certificate_leaves_no_file(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials) -> None:
    bad = replace(dev_credentials, private_key_pem=_other_key_pem())
    with pytest.raises(SigningError):
        _publish(out_dir, writer, make_facts, bad)
    _assert_nothing_published(out_dir)


def test_an_unreachable_timestamp_authority_leaves_no_file(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials, closed_port_url: str) -> None:
    with pytest.raises(SigningError, match="timestamp authority"):
        _publish(out_dir, writer, make_facts, replace(dev_credentials, tsa_url=closed_port_url))
    _assert_nothing_published(out_dir)


def test_frames_without_the_watermark_are_not_published(
        out_dir: Path, make_facts: MakeFacts, dev_credentials: SigningCredentials) -> None:
    def unmarked(path: Path) -> None:
        write_mp4(path, moving_frames(25, size=256))

    with pytest.raises(SigningError, match="does not carry watermark"):
        _publish(out_dir, unmarked, make_facts, dev_credentials)
    _assert_nothing_published(out_dir)


def test_a_failure_after_signing_leaves_no_file(
        out_dir: Path, writer: Writer, make_facts: MakeFacts,
        dev_credentials: SigningCredentials) -> None:
    """What the service does when the registry refuses the record: the signed temp goes."""
    with pytest.raises(RuntimeError, match="database is locked"), \
            Publication(out_dir / "o.mp4") as publication:
        writer(publication.unsigned)
        publication.sign(make_facts(WATERMARK_ID), dev_credentials, watermark_key=MARK_KEY)
        raise RuntimeError("database is locked")
    _assert_nothing_published(out_dir)


def test_a_cancelled_encode_passes_through_and_leaves_no_temp_file(
        out_dir: Path, make_facts: MakeFacts, dev_credentials: SigningCredentials) -> None:
    def cancelled(path: Path) -> None:
        path.write_bytes(b"half an mp4")
        raise Cancelled("cancelled by the user")

    with pytest.raises(Cancelled):
        _publish(out_dir, cancelled, make_facts, dev_credentials)
    _assert_nothing_published(out_dir)


def test_nothing_unsigned_is_published_and_a_bad_path_is_refused_first(
        out_dir: Path, writer: Writer) -> None:
    with pytest.raises(PublishError, match="was not signed"), \
            Publication(out_dir / "o.mp4") as publication:
        writer(publication.unsigned)
        publication.publish()
    _assert_nothing_published(out_dir)
    with pytest.raises(InputError, match="must end in .mp4"):
        Publication(out_dir / "o.mov")
    with pytest.raises(InputError, match="does not exist"):
        Publication(out_dir / "missing" / "o.mp4")
    _assert_nothing_published(out_dir)


def test_the_signing_key_never_reaches_logs_or_outputs(
        out_dir: Path, writer: Writer, make_facts: MakeFacts, keys_dir: Path,
        dev_credentials: SigningCredentials, caplog: pytest.LogCaptureFixture) -> None:
    key_pem = DevKeyFiles.under(keys_dir).key.read_bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)
    secrets = [line for line in key_pem.decode().splitlines() if "PRIVATE" not in line]
    secrets.append(format(key.private_numbers().private_value, "x"))
    caplog.set_level(logging.DEBUG)
    result = publish_marked(out_dir / "ok.mp4", writer, make_facts(WATERMARK_ID),
                            dev_credentials)
    with pytest.raises(SigningError) as failure:
        publish_marked(out_dir / "bad.mp4", writer, make_facts(WATERMARK_ID),
                       replace(dev_credentials, private_key_pem=_other_key_pem()))
    seen = "\n".join([caplog.text, repr(result), str(result.signed.manifest),
                      str(failure.value), repr(dev_credentials),
                      result.path.read_bytes().decode("latin-1")])
    assert "published ok.mp4" in caplog.text
    for secret in secrets:
        assert secret not in seen
