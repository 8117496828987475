"""`keys init` makes a PKI c2pa-rs accepts; production and callback keys load or fail clearly."""

from __future__ import annotations

import stat
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sonic_ext.errors import InputError, SigningError
from sonic_ext.provenance.keys import (
    DEV_LABEL,
    DOCUMENT_SIGNING_OID,
    DevKeyFiles,
    callback_credentials,
    init_dev_keys,
    load_credentials,
    load_dev_credentials,
)


def test_keys_init_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    files = init_dev_keys(tmp_path / "keys")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(
        [files.root_cert.name, files.chain.name, files.key.name])
    assert b"PRIVATE KEY" not in files.chain.read_bytes() + files.root_cert.read_bytes()


def test_keys_init_keeps_an_existing_set_unless_asked_to_replace(tmp_path: Path) -> None:
    first = init_dev_keys(tmp_path)
    key = first.key.read_bytes()
    assert init_dev_keys(tmp_path).key.read_bytes() == key
    assert init_dev_keys(tmp_path, replace=True).key.read_bytes() != key


def test_dev_chain_has_the_extensions_c2pa_validators_require(keys_dir: Path) -> None:
    files = DevKeyFiles.under(keys_dir)
    leaf, intermediate = x509.load_pem_x509_certificates(files.chain.read_bytes())
    root = x509.load_pem_x509_certificate(files.root_cert.read_bytes())
    ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(ekus) == {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_OID}
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for cert, issuer in ((leaf, intermediate), (intermediate, root)):
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        assert cert.issuer == issuer.subject
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.signature_hash_algorithm.name == hashes.SHA256().name


def test_dev_credentials_say_so_and_never_show_the_key(keys_dir: Path) -> None:
    credentials = load_dev_credentials(keys_dir)
    assert credentials.development and credentials.label == DEV_LABEL
    key_pem = DevKeyFiles.under(keys_dir).key.read_bytes()
    body = b"".join(key_pem.splitlines()[1:-1]).decode()
    for shown in (repr(credentials), str(credentials.describe())):
        assert body[:40] not in shown and "PRIVATE" not in shown
    assert credentials.describe()["credentials"] == DEV_LABEL


def test_missing_dev_keys_name_the_command_that_makes_them(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="keys init"):
        load_dev_credentials(tmp_path / "nothing")


def test_production_files_load_as_production_credentials(keys_dir: Path) -> None:
    files = DevKeyFiles.under(keys_dir)
    credentials = load_credentials(files.chain, files.key, trust_anchors=files.root_cert,
                                   tsa_url="http://tsa.example/rfc3161")
    assert not credentials.development
    assert credentials.alg == c2pa.C2paSigningAlg.ES256
    assert credentials.describe()["timestamp_authority"] == "http://tsa.example/rfc3161"


def test_a_key_that_does_not_match_the_chain_is_refused(keys_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(SigningError, match="does not match"):
        load_credentials(DevKeyFiles.under(keys_dir).chain, other)
    with pytest.raises(SigningError, match="cannot read the signing key"):
        load_credentials(DevKeyFiles.under(keys_dir).chain, tmp_path / "absent.pem")


def test_callback_credentials_check_the_chain_and_tsa_url(keys_dir: Path) -> None:
    chain = DevKeyFiles.under(keys_dir).chain.read_bytes()
    with pytest.raises(SigningError, match="no PEM certificates"):
        callback_credentials(b"not a chain", lambda data: b"", c2pa.C2paSigningAlg.ES256)
    with pytest.raises(InputError, match="tsa_url"):
        callback_credentials(chain, lambda data: b"", c2pa.C2paSigningAlg.ES256,
                             tsa_url="ftp://tsa")
    credentials = callback_credentials(chain, lambda data: b"", c2pa.C2paSigningAlg.ES256)
    assert credentials.describe()["signer"] == "callback"
