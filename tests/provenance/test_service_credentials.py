"""Which signer the service uses: configured production files, a callback, or development keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sonic_ext import InputError, Settings, SonicService
from sonic_ext.provenance.keys import callback_credentials, init_dev_keys


def service(tmp_path: Path, **env: str) -> SonicService:
    return SonicService(Settings.from_environment(env, home=tmp_path / "home"))


def test_without_configuration_development_keys_are_made_and_named(tmp_path: Path) -> None:
    credentials = service(tmp_path).credentials()
    assert credentials.label == "development credentials"
    assert (tmp_path / "home" / "keys" / "dev-root-ca.pem").is_file()


def test_configured_chain_and_key_sign_as_production(tmp_path: Path) -> None:
    issued = init_dev_keys(tmp_path / "issued-by-our-ca")  # stands in for a real CA's files
    sonic = service(tmp_path, SONIC_SIGNING_CHAIN=str(issued.chain),
                    SONIC_SIGNING_KEY=str(issued.key), SONIC_TRUST_ANCHORS=str(issued.root_cert))
    credentials = sonic.credentials()
    assert credentials.label == "production credentials"
    assert sonic.health()["signing"] == "production credentials"
    assert not (tmp_path / "home" / "keys" / "dev-root-ca.pem").exists()


def test_a_chain_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="SONIC_SIGNING_KEY: production signing needs both"):
        Settings.from_environment({"SONIC_SIGNING_CHAIN": str(tmp_path / "chain.pem")})


def test_a_callback_signer_given_to_the_service_is_used(tmp_path: Path) -> None:
    issued = init_dev_keys(tmp_path / "kms")
    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    import c2pa

    hsm = callback_credentials(issued.chain.read_bytes(),
                               lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())),
                               c2pa.C2paSigningAlg.ES256,
                               trust_anchors_pem=issued.root_cert.read_bytes())
    sonic = SonicService(Settings.from_environment({}, home=tmp_path / "home"), credentials=hsm)
    assert sonic.credentials() is hsm
    assert sonic.credentials().describe()["signer"] == "callback"
