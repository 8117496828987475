"""The consent registry's CAWG identity assertion: made by c2pa-rs, validated by c2pa-python,
bound to its file (a copy into another file is named), and signed by the credential's issuer
only (an assertion by any other key is named)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import c2pa
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sonic_ext.consent.credential_check import check_consent
from sonic_ext.consent.credentials import CREDENTIAL_TYPE, ConsentIssuer, load_issuer
from sonic_ext.consent.signing import create_consent_key
from sonic_ext.provenance.identity_assertion import (
    HARD_BINDING,
    LABEL,
    IdentitySigner,
    judge_identities,
)
from sonic_ext.provenance.keys import (
    DevKeyFiles,
    SigningCredentials,
    callback_credentials,
)
from sonic_ext.provenance.labels import CONSENT_LABEL, CREDENTIAL_LABEL, IDENTITY_ROLE
from sonic_ext.provenance.manifest import GenerationFacts, build_manifest
from sonic_ext.provenance.reading import ManifestReading, read_manifest
from sonic_ext.provenance.sign import sign_mp4
from sonic_ext.provenance.trust import TrustPolicy

from .conftest import MakeFacts, moving_frames, write_mp4

CONSENT_ID = "consent-7f3a"


def issuer_in(folder: Path) -> ConsentIssuer:
    return load_issuer(create_consent_key(folder / "consent-key.pem"), folder, None)


def signer_of(issuer: ConsentIssuer) -> IdentitySigner:
    return IdentitySigner(issuer.chain_pem(), issuer.private_key_pem())


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> ConsentIssuer:
    return issuer_in(tmp_path_factory.mktemp("registry-keys"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return (write_mp4(folder / "a.mp4", moving_frames(12, size=128)),
            write_mp4(folder / "b.mp4", moving_frames(12, size=128)[::-1]))


def now() -> dt.datetime:
    """Read at each use: certificates made by a fixture later in a long run must be valid."""
    return dt.datetime.now(dt.timezone.utc)


def consented_facts(make_facts: MakeFacts, issuer: ConsentIssuer) -> GenerationFacts:
    credential = issuer.sign({
        "type": ["VerifiableCredential", CREDENTIAL_TYPE], "issuer": {"id": issuer.id},
        "validFrom": (now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "credentialSubject": {"consentId": CONSENT_ID, "purposes": ["education"]}})
    return make_facts("0123456789ab", consent={
        "decision": "allowed", "consent_id": CONSENT_ID, "purpose": "education",
        "decided_at": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")}, consent_credentials=(credential,))


def consent_section(reading: ManifestReading, issuer: ConsentIssuer) -> dict:
    carried = reading.assertion(CREDENTIAL_LABEL)["credentials"]
    return check_consent(reading.consent, carried, list(issuer.anchors), None, now(),
                         reading.identities)


def test_every_output_carries_the_registrys_identity_assertion_and_c2pa_validates_it(
        clips: tuple[Path, Path], dev_credentials: SigningCredentials, make_facts: MakeFacts,
        issuer: ConsentIssuer, tmp_path: Path) -> None:
    signed = sign_mp4(clips[0], tmp_path / "out.mp4", consented_facts(make_facts, issuer),
                      dev_credentials, signer_of(issuer))
    reading = signed.reading
    assert reading.validation_state == "Trusted" and not reading.failures
    [identity] = reading.identities
    assert set(identity.referenced) == {CONSENT_LABEL, CREDENTIAL_LABEL, HARD_BINDING}
    assert identity.roles == (IDENTITY_ROLE,)
    assert identity.signer_name and "consent registry" in identity.signer_name
    # c2pa-python's own findings for the assertion: signature verified, well formed, and
    # nothing failed beyond the trust verdict 0.38.1 cannot be configured for
    store = reading.store["validation_results"]["activeManifest"]
    about = [item for item in store["success"] if item["url"].endswith(f"/{LABEL}")]
    assert {"cawg.x509.signature.validated", "cawg.identity.well-formed"} <= \
        {item["code"] for item in about}
    assert [f["code"] for f in identity.failures] in ([], ["cawg.x509.credential.untrusted"])
    section = consent_section(reading, issuer)
    assert section["verdict"] == "status-unknown"  # no status list given: not the point here
    assert section["identity"]["state"] == "valid"


def test_an_identity_assertion_copied_into_another_file_is_named(
        clips: tuple[Path, Path], dev_credentials: SigningCredentials, make_facts: MakeFacts,
        issuer: ConsentIssuer, tmp_path: Path) -> None:
    """The attacker holds a trusted content signing key (an insider) but not the consent key:
    they copy a real output's decision, credential and identity assertion, byte for byte as
    c2pa hands them out, into the manifest of another video."""
    facts = consented_facts(make_facts, issuer)
    original = tmp_path / "original.mp4"
    sign_mp4(clips[0], original, facts, dev_credentials, signer_of(issuer))
    trust = TrustPolicy(dev_credentials.trust_anchors_pem)
    with trust.context(decode_identities=False) as context, original.open("rb") as stream, \
            c2pa.Reader("video/mp4", stream, None, context) as reader:
        store = json.loads(reader.json())
    stolen = next(a for a in store["manifests"][store["active_manifest"]]["assertions"]
                  if a["label"] == LABEL)
    definition = build_manifest(facts, credentials_label=dev_credentials.label)
    definition["assertions"].append(stolen)
    forged = tmp_path / "forged.mp4"
    with trust.context() as context, c2pa.Builder(definition, context=context) as builder:
        for item in (facts.portrait, facts.audio):
            with item.path.open("rb") as stream:
                builder.add_ingredient(item.ingredient(), item.mime, stream)
        with dev_credentials.make_signer() as signer, clips[1].open("rb") as src, \
                forged.open("w+b") as dst:
            builder.sign(signer, "video/mp4", src, dst)

    reading = read_manifest(forged, trust)
    assert reading is not None and reading.validation_state == "Trusted"  # the claim is fine
    assert "cawg.identity.assertion.mismatch" in {f["code"] for f in reading.identities[0].failures}
    section = consent_section(reading, issuer)
    assert section["verdict"] == "identity-invalid"
    assert "copied from another file" in section["reason"]
    original_reading = read_manifest(original, trust)
    assert consent_section(original_reading, issuer)["identity"]["state"] == "valid"


def test_an_identity_assertion_by_another_key_is_named(
        clips: tuple[Path, Path], dev_credentials: SigningCredentials, make_facts: MakeFacts,
        issuer: ConsentIssuer, tmp_path: Path) -> None:
    """A real credential, but the identity assertion is signed by someone else's registry."""
    other = issuer_in(tmp_path / "other-registry")
    signed = sign_mp4(clips[1], tmp_path / "out.mp4", consented_facts(make_facts, issuer),
                      dev_credentials, signer_of(other))
    section = consent_section(signed.reading, issuer)
    assert section["verdict"] == "identity-invalid"
    assert "not by the consent credential's issuer" in section["reason"]
    state, problem = judge_identities(signed.reading.identities, None)
    assert state["state"] == "invalid" and problem


def test_a_callback_signer_gets_no_identity_assertion_and_says_so(
        clips: tuple[Path, Path], keys_dir: Path, make_facts: MakeFacts, issuer: ConsentIssuer,
        tmp_path: Path) -> None:
    """c2pa-rs builds identity assertions only in its settings signer (no remote CAWG signer):
    a KMS-signed output is still signed and readable; its consent cannot be shown to be this
    file's, and the Consent section says so (identity-absent), never in force."""
    files = DevKeyFiles.under(keys_dir)
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    credentials = callback_credentials(
        files.chain.read_bytes(), lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())),
        c2pa.C2paSigningAlg.ES256, trust_anchors_pem=files.root_cert.read_bytes())
    signed = sign_mp4(clips[0], tmp_path / "kms.mp4", consented_facts(make_facts, issuer),
                      credentials, signer_of(issuer))
    assert signed.reading.validation_state == "Trusted" and signed.reading.identities == ()
    section = consent_section(signed.reading, issuer)
    assert (section["verdict"], section["identity"]["state"]) == ("identity-absent", "absent")


def test_the_development_issuer_is_a_leaf_under_its_own_root(tmp_path: Path) -> None:
    """CAWG refuses self-signed signers; a home made before identity assertions (a
    self-signed issuer certificate) gets a root and a leaf on its next start."""
    first = issuer_in(tmp_path)
    [leaf], [root] = first.chain, first.anchors
    assert leaf.issuer == root.subject != leaf.subject
    leaf.verify_directly_issued_by(root)
    (tmp_path / "consent-root.pem").unlink()
    again = load_issuer(first.key, tmp_path, None)
    assert again.anchors != first.anchors and again.chain[0].issuer == again.anchors[0].subject
