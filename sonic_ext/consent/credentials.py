"""Consent an auditor checks without our database: signed consent credentials and a signed
revocation status list.

Formats are the web's (no format of our own to trust): W3C Verifiable Credentials 2.0 secured
as JWS (VC-JOSE-COSE, `typ: vc+jwt`, `alg: Ed25519` per RFC 9864) with the issuer's X.509 chain
in `x5c`, and a W3C Bitstring Status List for revocation. Signatures come from joserfc over
`cryptography`; chain checks from `cryptography`'s own issuer verification.

The issuer is the registry's consent key with its certificate (`ConsentIssuer`): a development
self-signed certificate under <home>/keys, or a production chain (SONIC_CONSENT_CHAIN), separate
from the content signing key. A credential says what one consent allowed: a pseudonymous subject
id, purposes, validity, the evidence file's sha256, the face models and a hash of the signed
references (never embeddings, never the portrait), and its entry in the status list.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from ..errors import InputError
from .records import iso
from .signing import ConsentKey

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPE = "LikenessConsentCredential"
STATUS_LIST_TYPE = "BitstringStatusListCredential"
STATUS_LIST_BITS = 131072  # the spec's minimum (16 KB): one bit tells nothing about whom
ALG = "Ed25519"
JWT_TYPE = "vc+jwt"
DEV_CERT_FILE = "consent-issuer.pem"  # under <home>/keys, beside consent-key.pem
ENV_CHAIN = "SONIC_CONSENT_CHAIN"
_DEV_DAYS = 20 * 365


def _jws_registry() -> jws.JWSRegistry:
    """Ed25519 only; headers up to 16 KB, since `x5c` carries the issuer's whole chain (the
    library's 512-byte default fits no certificate)."""
    registry = jws.JWSRegistry(algorithms=[ALG])
    registry.max_header_length = 16384
    return registry


@dataclass(frozen=True)
class ConsentIssuer:
    """The consent key and the certificate chain (leaf first) that names it."""

    key: ConsentKey
    chain: tuple[x509.Certificate, ...]
    development: bool

    @property
    def id(self) -> str:
        return f"urn:sd-webui-sonic:registry:{self.key.key_id}"

    @property
    def name(self) -> str:
        names = self.chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.id

    @property
    def status_list_id(self) -> str:
        return f"urn:sd-webui-sonic:consent-status:{self.key.key_id}"

    def anchors_pem(self) -> bytes:
        """What auditors trust for consent: the chain's last certificate (a development
        certificate is its own root)."""
        return self.chain[-1].public_bytes(serialization.Encoding.PEM)

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ALG, "typ": JWT_TYPE, "kid": self.key.key_id,
                  "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                          for c in self.chain]}
        payload = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
        return jws.serialize_compact(header, payload, OKPKey.import_key(self.key.private_key),
                                     registry=_jws_registry())


def load_issuer(key: ConsentKey, keys_dir: Path, chain_file: Path | None) -> ConsentIssuer:
    """The production chain in `chain_file` (its leaf must be the consent key's), else the
    development certificate under `keys_dir`, made on first use."""
    if chain_file is not None:
        try:
            chain = tuple(x509.load_pem_x509_certificates(chain_file.read_bytes()))
        except (OSError, ValueError) as exc:
            raise InputError(ENV_CHAIN, f"{chain_file} is not a PEM certificate chain: {exc}"
                             ) from None
        if _raw(chain[0].public_key()) != key.public_bytes:
            raise InputError(ENV_CHAIN, f"the first certificate in {chain_file} is not the "
                                        f"consent key's ({key.key_id})",
                             hint="the chain starts with the consent key's own certificate")
        return ConsentIssuer(key, chain, development=False)
    path = keys_dir / DEV_CERT_FILE
    if path.is_file():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        if _raw(cert.public_key()) == key.public_bytes:
            return ConsentIssuer(key, (cert,), development=True)
    cert = _dev_certificate(key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    partial.replace(path)
    return ConsentIssuer(key, (cert,), development=True)


def _dev_certificate(key: ConsentKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sd-webui-sonic"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Sonic development consent "
                                                              "registry (not for production)")])
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=_DEV_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_cert_sign=True,
                crl_sign=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key.private_key, algorithm=None))


def _raw(public_key: Any) -> bytes | None:
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        return None
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ----------------------------------------------------------------------------------------------
# Issuing

def consent_credential(issuer: ConsentIssuer, consent: Any, references: Sequence[Any],
                       subject_name: str | None) -> str:
    """The signed credential of one consent row (`references`: its subject's signed face
    references; `subject_name` only when the policy puts names in credentials)."""
    reference_hash = hashes.Hash(hashes.SHA256())
    for signature in sorted(r.signature or "" for r in references):
        reference_hash.update(signature.encode())
    subject: dict[str, Any] = {
        "id": f"urn:sd-webui-sonic:subject:{consent.subject_id}",
        "consentId": consent.id, "purposes": list(consent.purposes),
        "evidenceSha256": consent.evidence_sha256,
        "faceModels": sorted({r.model_id for r in references}),
        "faceReferencesSha256": reference_hash.finalize().hex(),
        "supersedes": consent.supersedes,
    }
    if subject_name is not None:
        subject["name"] = subject_name
    claims: dict[str, Any] = {
        "@context": [VC_CONTEXT], "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "id": f"urn:sd-webui-sonic:consent:{consent.id}",
        "issuer": {"id": issuer.id, "name": issuer.name},
        "validFrom": iso(consent.valid_from), "credentialSubject": subject,
        "credentialStatus": {
            "id": f"{issuer.status_list_id}#{consent.status_index}",
            "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": str(consent.status_index),
            "statusListCredential": issuer.status_list_id},
    }
    if consent.valid_until is not None:
        claims["validUntil"] = iso(consent.valid_until)
    return issuer.sign(claims)


def status_list(issuer: ConsentIssuer, revoked: Iterable[int], now: dt.datetime) -> str:
    """The signed revocation list: bit i set when the consent with status index i is revoked."""
    bits = bytearray(STATUS_LIST_BITS // 8)
    for index in revoked:
        bits[index // 8] |= 0x80 >> (index % 8)  # the spec's order: index 0 is the first bit
    encoded = base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).decode()
    return issuer.sign({
        "@context": [VC_CONTEXT], "type": ["VerifiableCredential", STATUS_LIST_TYPE],
        "id": issuer.status_list_id, "issuer": {"id": issuer.id, "name": issuer.name},
        "validFrom": iso(now),
        "credentialSubject": {"id": f"{issuer.status_list_id}#list",
                              "type": "BitstringStatusList", "statusPurpose": "revocation",
                              "encodedList": "u" + encoded.rstrip("=")}})


# ----------------------------------------------------------------------------------------------
# Checking (what an auditor runs, with nothing but the file, anchors and maybe a status list)

@dataclass(frozen=True)
class CheckedCredential:
    """A JWS read back: its claims when the signature holds, and whom it chains to."""

    claims: dict[str, Any] | None  # None: the signature or the format is broken
    problem: str | None  # why it does not count; None when signed and trusted
    trusted: bool  # the issuer chains to a trust anchor
    issuer_name: str | None = None


def check_jwt(token: str, anchors: Sequence[x509.Certificate], now: dt.datetime,
              expected_type: str) -> CheckedCredential:
    """Verify the signature with the x5c leaf, the chain up to one of `anchors`, and the type."""
    try:
        header = json.loads(_b64url(token.split(".")[0]))
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
        key = chain[0].public_key()
        if header.get("alg") != ALG or not isinstance(key, ed25519.Ed25519PublicKey):
            return CheckedCredential(None, f"unsupported algorithm {header.get('alg')!r}", False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = jws.deserialize_compact(token, OKPKey.import_key(key),
                                              registry=_jws_registry()).payload
        claims = json.loads(payload)
    except (ValueError, KeyError, IndexError, TypeError, JoseError):
        return CheckedCredential(None, "its signature does not verify (edited or damaged)",
                                 False)
    issuer = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(issuer[0].value) if issuer else None
    if expected_type not in claims.get("type", []):
        return CheckedCredential(claims, f"it is not a {expected_type}", False, name)
    problem = _chain_problem(chain, anchors, now)
    return CheckedCredential(claims, problem, problem is None, name)


def _chain_problem(chain: list[x509.Certificate], anchors: Sequence[x509.Certificate],
                   now: dt.datetime) -> str | None:
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"the issuer certificate {cert.subject.rfc4514_string()} is not valid now"
    for child, parent in pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return "the issuer's certificate chain is broken"
    top = chain[-1]
    for anchor in anchors:
        if top == anchor:
            return None
        try:
            top.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return None
    return f"the issuer {top.subject.rfc4514_string()} is not among the consent trust anchors"


def revoked_bit(claims: dict[str, Any], index: int) -> bool:
    """Bit `index` of a checked status list's encoded list."""
    encoded = str(claims["credentialSubject"]["encodedList"])
    if not encoded.startswith("u"):
        raise ValueError("encodedList is not base64url multibase")
    bits = gzip.decompress(_b64url(encoded[1:]))
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_anchors(pem: bytes) -> list[x509.Certificate]:
    return list(x509.load_pem_x509_certificates(pem)) if pem.strip() else []
