"""Consent credentials and the status list: what an auditor checks from a file alone, and each
way a credential can be forged, moved or outlived getting its own verdict."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from sonic_ext.consent.credential_check import check_consent
from sonic_ext.consent.credentials import (
    CREDENTIAL_TYPE,
    check_jwt,
    load_anchors,
    load_issuer,
)
from sonic_ext.consent.signing import create_consent_key
from sonic_ext.contracts import CONSENT_VERDICTS
from sonic_ext.errors import Conflict
from sonic_ext.provenance.identity_assertion import HARD_BINDING, LABEL, IdentityReading
from sonic_ext.provenance.labels import CONSENT_LABEL, CREDENTIAL_LABEL, IDENTITY_ROLE

from ..raw_database import raw
from .conftest import enrol


@pytest.fixture
def obama(registry, evidence):
    return enrol(registry, "Barack Obama", "obama.jpg", evidence)


def credential_of(registry, consent_id: str) -> str:
    return registry.consent_credentials([consent_id])[0]


def decision(consent, clock, purpose: str = "education") -> dict:
    return {"consent_id": consent.id, "purpose": purpose,
            "decided_at": clock.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def anchors(registry):
    return load_anchors(registry.issuer.anchors_pem())


def signed_here(registry) -> tuple[IdentityReading, ...]:
    """The registry's identity assertion as c2pa reads it back from a file of ours
    (tests/provenance/test_identity_assertion.py makes and reads real ones)."""
    return (IdentityReading(label=LABEL, referenced=(CONSENT_LABEL, CREDENTIAL_LABEL,
                                                     HARD_BINDING),
                            roles=(IDENTITY_ROLE,), chain=registry.issuer.chain, failures=()),)


def check(registry, consent, clock, credentials=None, status=None, identities=None, **kw):
    result = check_consent(decision(consent, clock, **kw),
                           credentials if credentials is not None
                           else [credential_of(registry, consent.id)],
                           anchors(registry), status, clock.now,
                           signed_here(registry) if identities is None else identities)
    assert result["verdict"] in CONSENT_VERDICTS  # the documented set (contracts.py)
    return result


def test_the_credential_says_what_was_consented_and_nothing_private(registry, obama, clock):
    token = credential_of(registry, obama.id)
    checked = check_jwt(token, anchors(registry), clock.now, CREDENTIAL_TYPE)
    assert checked.trusted and checked.problem is None
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert (header["alg"], header["typ"]) == ("Ed25519", "vc+jwt") and header["x5c"]
    claims = checked.claims
    assert claims["type"] == ["VerifiableCredential", "LikenessConsentCredential"]
    subject = claims["credentialSubject"]
    assert subject["consentId"] == obama.id and subject["purposes"] == ["education"]
    assert subject["id"] == f"urn:sd-webui-sonic:subject:{obama.subject_id}"
    assert subject["evidenceSha256"] == obama.evidence_sha256
    assert subject["faceModels"] == ["dlib/face_recognition_resnet_model_v1"]
    assert "name" not in subject and "Obama" not in json.dumps(claims)  # policy default
    assert "embedding" not in json.dumps(claims)
    assert claims["credentialStatus"]["statusPurpose"] == "revocation"


def test_in_force_then_revoked_per_the_status_list(registry, obama, clock):
    before = registry.status_list()
    assert check(registry, obama, clock, status=before)["verdict"] == "in-force"
    assert check(registry, obama, clock)["verdict"] == "status-unknown"  # no list given
    registry.revoke_consent(obama.id, "withdrawn", actor="operator")
    after = registry.status_list()
    revoked = check(registry, obama, clock, status=after)
    assert revoked["verdict"] == "revoked"
    assert "the generation itself was covered" in revoked["reason"]
    # an older list still says in force, and the report says of when each list is
    clock.advance(timedelta(hours=1))
    later = check(registry, obama, clock, status=registry.status_list())
    old = check(registry, obama, clock, status=before)
    assert old["verdict"] == "in-force" and later["verdict"] == "revoked"
    assert old["status_list_date"] < later["status_list_date"]


def test_an_edited_credential_is_invalid(registry, obama, clock):
    header, payload, signature = credential_of(registry, obama.id).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["credentialSubject"]["purposes"] = ["education", "commercial"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    result = check(registry, obama, clock, credentials=[f"{header}.{forged}.{signature}"],
                   purpose="commercial")
    assert result["verdict"] == "credential-invalid"
    assert "does not verify" in result["reason"]


def test_a_credential_from_another_consent_is_a_mismatch(registry, obama, clock, evidence):
    biden = enrol(registry, "Joe Biden", "biden.jpg", evidence)
    result = check(registry, obama, clock, credentials=[credential_of(registry, biden.id)])
    assert result["verdict"] == "credential-mismatch"
    assert obama.id in result["reason"]


def test_an_untrusted_issuer_is_named(registry, obama, clock, tmp_path):
    other = load_issuer(create_consent_key(tmp_path / "other.pem"), tmp_path, None)
    result = check_consent(decision(obama, clock), [credential_of(registry, obama.id)],
                           load_anchors(other.anchors_pem()), registry.status_list(), clock.now)
    assert result["verdict"] == "issuer-untrusted"
    assert "not among the consent trust anchors" in result["reason"]


def test_a_genuine_credential_without_the_registrys_identity_assertion_is_not_in_force(
        registry, obama, clock):
    """An insider with a trusted content key copies a real output's decision and credential
    into another file and leaves the identity assertion out: genuine, but not this file's."""
    result = check(registry, obama, clock, status=registry.status_list(), identities=())
    assert result["verdict"] == "identity-absent"
    assert result["identity"]["state"] == "absent"
    assert "copied from another output" in result["reason"]


def test_a_generation_outside_the_consent_is_named(registry, obama, clock):
    result = check(registry, obama, clock, purpose="commercial",
                   status=registry.status_list())
    assert result["verdict"] == "outside-consent" and "'commercial'" in result["reason"]
    early = decision(obama, clock)
    early["decided_at"] = (clock.now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    result = check_consent(early, [credential_of(registry, obama.id)], anchors(registry),
                           registry.status_list(), clock.now, signed_here(registry))
    assert result["verdict"] == "outside-consent" and "outside the consent's validity" in \
        result["reason"]


def test_another_issuers_status_list_does_not_count(registry, obama, clock, tmp_path):
    from sonic_ext.consent.credentials import status_list

    other = load_issuer(create_consent_key(tmp_path / "other.pem"), tmp_path, None)
    result = check(registry, obama, clock, status=status_list(other, [], clock.now))
    assert result["verdict"] == "status-unknown"


def test_an_altered_registry_publishes_no_status_list(registry, obama, settings):
    registry.revoke_consent(obama.id, "withdrawn", actor="operator")
    with raw(settings) as db:
        db.execute("UPDATE consents SET revoked_at = NULL")
    with pytest.raises(Conflict, match="no status list was made: .* not as the consent key"):
        registry.status_list()


def test_an_amendment_gets_a_new_credential_and_status_entry(registry, obama, clock):
    amended = registry.amend_consent(obama.id, "operator", grantees=["alice"])
    old, new = (check_jwt(credential_of(registry, c), anchors(registry), clock.now,
                          CREDENTIAL_TYPE).claims for c in (obama.id, amended.id))
    assert new["credentialSubject"]["supersedes"] == obama.id
    assert (old["credentialStatus"]["statusListIndex"]
            != new["credentialStatus"]["statusListIndex"])


def test_names_go_into_credentials_only_when_the_policy_says_so(open_registry, policy_file,
                                                                 evidence, clock, tmp_path):
    from sonic_ext.policy import load_policy

    naming = tmp_path / "naming.toml"
    naming.write_text(policy_file.read_text() + "\n[provenance]\ncredential_subject_name = true\n")
    registry = open_registry(policy=load_policy(naming))
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    claims = check_jwt(credential_of(registry, consent.id), anchors(registry), clock.now,
                       CREDENTIAL_TYPE).claims
    assert claims["credentialSubject"]["name"] == "Barack Obama"
