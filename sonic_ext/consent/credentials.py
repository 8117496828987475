"""Consent an auditor checks without our database: signed consent credentials and a signed
revocation status list.

Formats are the web's (no format of our own to trust): W3C Verifiable Credentials 2.0 secured
as JWS (VC-JOSE-COSE, `typ: vc+jwt`, `alg: Ed25519` per RFC 9864) with the issuer's X.509 chain
in `x5c`, and a W3C Bitstring Status List for revocation. Signatures come from joserfc over
`cryptography`; chain checks from `cryptography`'s own issuer verification.

The issuer is the registry's consent key with its certificate (`ConsentIssuer`): a development
certificate under <home>/keys issued by a development consent root beside it, or a production
chain (SONIC_CONSENT_CHAIN, its roots in SONIC_CONSENT_ANCHORS), separate from the content
signing key. The same certificate signs each output's CAWG identity assertion
(provenance/identity_assertion.py), and CAWG refuses self-signed signers: hence a root. A credential says what one consent allowed: a pseudonymous subject
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
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
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
DEV_ROOT_FILE = "consent-root.pem"  # the development consent root (its key is dropped)
ENV_CHAIN = "SONIC_CONSENT_CHAIN"
ENV_ANCHORS = "SONIC_CONSENT_ANCHORS"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_DEV_DAYS = 20 * 365


def _jws_registry() -> jws.JWSRegistry:
    """Ed25519 only; headers up to 16 KB, since `x5c` carries the issuer's whole chain (the
    library's 512-byte default fits no certificate)."""
    registry = jws.JWSRegistry(algorithms=[ALG])
    registry.max_header_length = 16384
    return registry


@dataclass(frozen=True)
class ConsentIssuer:
    """The consent key, the certificate chain (leaf first, no root) that names it, and the
    roots auditors trust it by."""

    key: ConsentKey
    chain: tuple[x509.Certificate, ...]
    anchors: tuple[x509.Certificate, ...]
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
        """What auditors trust for consent credentials and identity assertions."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.anchors)

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def private_key_pem(self) -> bytes:
        """For c2pa-rs's CAWG signer, which takes the identity key as PEM settings."""
        return self.key.private_key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption())

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ALG, "typ": JWT_TYPE, "kid": self.key.key_id,
                  "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                          for c in self.chain]}
        payload = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
        return jws.serialize_compact(header, payload, OKPKey.import_key(self.key.private_key),
                                     registry=_jws_registry())


def load_issuer(key: ConsentKey, keys_dir: Path, chain_file: Path | None,
                anchors_file: Path | None = None) -> ConsentIssuer:
    """The production chain in `chain_file` (its leaf must be the consent key's; roots from
    `anchors_file`, else the chain's last certificate), else the development certificate and
    root under `keys_dir`, made on first use (and again if the key changed or the certificate
    is a self-signed one from before identity assertions)."""
    if chain_file is not None:
        chain = _pem_certificates(chain_file, ENV_CHAIN)
        if _raw(chain[0].public_key()) != key.public_bytes:
            raise InputError(ENV_CHAIN, f"the first certificate in {chain_file} is not the "
                                        f"consent key's ({key.key_id})",
                             hint="the chain starts with the consent key's own certificate")
        anchors = _pem_certificates(anchors_file, ENV_ANCHORS) if anchors_file else chain[-1:]
        chain = tuple(c for c in chain if c.issuer != c.subject or len(chain) == 1)
        return ConsentIssuer(key, chain, anchors, development=False)
    leaf_path, root_path = keys_dir / DEV_CERT_FILE, keys_dir / DEV_ROOT_FILE
    if leaf_path.is_file() and root_path.is_file():
        leaf = x509.load_pem_x509_certificate(leaf_path.read_bytes())
        root = x509.load_pem_x509_certificate(root_path.read_bytes())
        if _raw(leaf.public_key()) == key.public_bytes and leaf.issuer == root.subject != \
                leaf.subject:
            return ConsentIssuer(key, (leaf,), (root,), development=True)
    leaf, root = _dev_certificates(key)
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path, cert in ((root_path, root), (leaf_path, leaf)):
        partial = path.with_name(f".{path.name}.tmp")
        partial.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        partial.replace(path)
    return ConsentIssuer(key, (leaf,), (root,), development=True)


def _pem_certificates(path: Path, setting: str) -> tuple[x509.Certificate, ...]:
    try:
        certificates = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise InputError(setting, f"{path} is not a PEM certificate list: {exc}") from None
    return certificates


def _dev_certificates(key: ConsentKey) -> tuple[x509.Certificate, x509.Certificate]:
    """A development root (its key used once, then dropped) and the consent key's leaf: the
    shape CAWG's X.509 profile wants (no self-signed signer, digitalSignature, an EKU)."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    root_key = ed25519.Ed25519PrivateKey.generate()
    root_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sd-webui-sonic"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Sonic development consent root (not for "
                                                "production)")])
    leaf_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sd-webui-sonic"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Sonic development consent registry (not for "
                                                "production)")])

    def certificate(subject: x509.Name, public_key: Any, ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(root_name)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + dt.timedelta(days=_DEV_DAYS))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=not ca, content_commitment=False, key_cert_sign=ca,
                    crl_sign=ca, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False),
                    critical=True))

    root = (certificate(root_name, root_key.public_key(), ca=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, algorithm=None))
    leaf = (certificate(leaf_name, key.public_key, ca=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                  DOCUMENT_SIGNING]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .sign(root_key, algorithm=None))
    return leaf, root


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
    issuer_key: bytes | None = None  # the x5c leaf's raw Ed25519 key


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
    return CheckedCredential(claims, problem, problem is None, name, _raw(key))


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
