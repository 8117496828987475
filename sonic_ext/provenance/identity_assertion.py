"""The CAWG identity assertion in every output: the consent registry's own signature, with its
issuer certificate, over this file's consent decision, consent credentials and hard binding
(CAWG identity assertion 1.1, X.509 credential, one custom role). A credential says what a person
allowed; this says that the registry authorised this very depiction, and it cannot be carried
into another file (its referenced hashes would not match there).

Made by c2pa-rs's CAWG dual signer, which c2pa-python 0.38 builds only from settings (`signer`
plus `cawg_x509_signer`): signing with a key file therefore goes through a settings signer
(`sign.py`). Callback (KMS/HSM) signers get no identity assertion; c2pa-rs has no remote CAWG
signer yet.

Checked in two halves. c2pa-rs validates the COSE signature, the padding and that each
referenced assertion's hash matches this claim (`cawg.identity.assertion.mismatch` otherwise).
Its trust verdict ignores the Context's `cawg_trust` in c2pa-python 0.38.1 (always
`cawg.x509.credential.untrusted`), so whose key signed is checked by us from the COSE x5chain,
read with identity decoding off (`IdentityReading.chain`), against the consent credential's
issuer (`consent/credential_check.py`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .labels import CONSENT_LABEL, CREDENTIAL_LABEL, IDENTITY_ROLE

LABEL = "cawg.identity"
HARD_BINDING = "c2pa.hash.bmff.v3"  # what c2pa-rs writes into an MP4
UNTRUSTED = "cawg.x509.credential.untrusted"  # see the module docstring
_X5CHAIN = 33  # COSE header label (RFC 9360)


@dataclass(frozen=True)
class IdentitySigner:
    """The registry's issuer certificate chain (leaf first, no root) and its key, both PEM."""

    chain_pem: bytes = field(repr=False)
    private_key_pem: bytes = field(repr=False)

    def settings(self, referenced: Sequence[str]) -> dict[str, object]:
        """c2pa-rs's `cawg_x509_signer` section, signing `referenced` assertion labels."""
        return {"local": {"alg": "ed25519", "sign_cert": self.chain_pem.decode(),
                          "private_key": self.private_key_pem.decode(),
                          "referenced_assertions": list(referenced), "roles": [IDENTITY_ROLE]}}


@dataclass(frozen=True)
class IdentityReading:
    """One identity assertion of the active manifest, as read back."""

    label: str
    referenced: tuple[str, ...]  # the assertion labels it signs
    roles: tuple[str, ...]
    chain: tuple[x509.Certificate, ...]  # the COSE signature's x5chain, leaf first
    failures: tuple[dict[str, str], ...]  # c2pa-rs's failed checks of this assertion

    @property
    def signer_name(self) -> str | None:
        return self.chain[0].subject.rfc4514_string() if self.chain else None

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "referenced": list(self.referenced),
                "roles": list(self.roles), "signer": self.signer_name,
                "failures": list(self.failures)}


def judge_identities(identities: Sequence[IdentityReading], issuer_key: bytes | None
                     ) -> tuple[dict[str, object], str | None]:
    """The identity part of the Consent section, and what is wrong (None: nothing). Absent is
    wrong too: a genuine credential alone says nothing about which file it belongs to.

    Sound: c2pa-rs verified the signature with the x5chain leaf's key, so a leaf whose key is
    the trusted credential issuer's (`issuer_key`, raw Ed25519) was signed by the registry.
    """
    if not identities:
        problem = ("no identity assertion of the registry binds the consent credential to this "
                   "file: it may have been copied from another output (outputs signed through a "
                   "callback signer carry none)")
        return {"state": "absent", "reason": problem}, problem
    problems = [_problem(reading, issuer_key) for reading in identities]
    for reading, problem in zip(identities, problems):
        if problem is None:
            return {"state": "valid", "signer": reading.signer_name,
                    "roles": list(reading.roles), "referenced": list(reading.referenced),
                    "reason": "signed by the consent credential's issuer over this file's "
                              "decision, credentials and hard binding"}, None
    return {"state": "invalid", "signer": identities[0].signer_name,
            "reason": problems[0]}, problems[0]


def _problem(reading: IdentityReading, issuer_key: bytes | None) -> str | None:
    codes = [f["code"] for f in reading.failures if f["code"] != UNTRUSTED]
    if any(code.endswith("assertion.mismatch") for code in codes):
        return ("the registry's identity assertion does not belong to this file: what it "
                "signs has other hashes here (it was copied from another file)")
    if codes:
        return f"the registry's identity assertion fails its checks ({', '.join(codes)})"
    if not reading.chain or _raw_key(reading.chain[0]) != issuer_key:
        signer = reading.signer_name or "an unreadable certificate"
        return f"the identity assertion is signed by {signer}, not by the consent credential's " \
               "issuer"
    labels = set(reading.referenced)
    if not {CONSENT_LABEL, CREDENTIAL_LABEL} <= labels or not any(
            label.startswith("c2pa.hash.") for label in labels):
        return ("the identity assertion does not sign this file's consent decision, "
                "credentials and hard binding")
    if IDENTITY_ROLE not in reading.roles:
        return f"the identity assertion does not carry the role {IDENTITY_ROLE}"
    return None


def _raw_key(certificate: x509.Certificate) -> bytes | None:
    key = certificate.public_key()
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return None
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def is_identity_label(label: str) -> bool:
    return label == LABEL or label.startswith(f"{LABEL}__")


def label_of_code(item: Mapping[str, Any]) -> str | None:
    """The identity assertion a validation entry is about, if it is about one (some `cawg.*`
    entries carry no assertion URL: they are the first assertion's)."""
    label = str(item.get("url", "")).rsplit("/", 1)[-1]
    if is_identity_label(label):
        return label
    return LABEL if str(item.get("code", "")).startswith("cawg.") else None


def read_identities(store: Mapping[str, Any], raw_store: Mapping[str, Any]
                    ) -> tuple[IdentityReading, ...]:
    """The active manifest's identity assertions: roles, references and c2pa-rs's findings
    from `store` (read normally), the signer's chain from `raw_store` (identity decoding off)."""
    failures: dict[str, list[dict[str, str]]] = {}
    results = store.get("validation_results", {}).get("activeManifest", {})
    for item in results.get("failure", []):
        label = label_of_code(item)
        if label is not None:
            failures.setdefault(label, []).append(
                {"code": item["code"], "explanation": item.get("explanation", "")})
    raw = {a["label"]: a.get("data") or {} for a in _active(raw_store).get("assertions", [])
           if is_identity_label(a.get("label", ""))}
    readings = []
    for label, data in raw.items():
        payload = data.get("signer_payload") or {}
        readings.append(IdentityReading(
            label=label,
            referenced=tuple(str(ref.get("url", "")).rsplit("/", 1)[-1]
                             for ref in payload.get("referenced_assertions") or []),
            roles=tuple(str(role) for role in payload.get("role") or []),
            chain=_x5chain(data.get("signature")),
            failures=tuple(failures.get(label, ()))))
    return tuple(readings)


def has_identity(store: Mapping[str, Any]) -> bool:
    return any(is_identity_label(a.get("label", ""))
               for a in _active(store).get("assertions", []))


def _active(store: Mapping[str, Any]) -> dict[str, Any]:
    return store.get("manifests", {}).get(store.get("active_manifest"), {})


def _x5chain(signature: Any) -> tuple[x509.Certificate, ...]:
    """The certificates of a COSE_Sign1 (base64 text in c2pa's JSON); empty when malformed."""
    try:
        message = cbor2.loads(base64.b64decode(str(signature)))
        parts = message.value if isinstance(message, cbor2.CBORTag) else message
        protected = cbor2.loads(parts[0]) if parts[0] else {}
        found = protected.get(_X5CHAIN) or parts[1].get(_X5CHAIN)
        ders = [found] if isinstance(found, bytes) else list(found or [])
        return tuple(x509.load_der_x509_certificate(der) for der in ders)
    except (ValueError, TypeError, IndexError, AttributeError, cbor2.CBORDecodeError):
        return ()
