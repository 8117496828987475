"""The registry's consent key: signatures on every row the gate relies on, and signed checkpoints.

Why: whoever can write `registry.db` (a restored backup, a shared PostgreSQL, an injection) could
otherwise insert a consented "subject" or un-revoke a consent, and recompute the audit chain's
plain hashes after editing it. With this key (Ed25519, a 0600 file beside the signing keys, never
in the database):
- each subject, consent state and face reference carries a signature over its canonical fields,
  and the gate refuses anything unsigned or signed by another key;
- each audit event gets a signed checkpoint of the chain (size and head hash) in the C2SP
  signed-note format (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint; our log is
  a hash chain, so the head hash stands where a Merkle root would), which no rewrite can re-sign.

Signatures come from `cryptography`; this module only lays out the bytes that are signed.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ..errors import InputError
from .audit import canonical_json
from .records import iso

KEY_FILE = "consent-key.pem"  # under <home>/keys
ENV_KEY_FILE = "SONIC_CONSENT_KEY"  # a deployment's shared key file (several workers, one key)
RECORD_DOMAIN = "sonic-ext registry record v1"
NOTE_ORIGIN_PREFIX = "sd-webui-sonic/registry/"  # every checkpoint's first line starts so
_NOTE_SIGNATURE_PREFIX = "\u2014 "  # "— ", as signed-note writes each signature line
_ED25519_NOTE_TYPE = b"\x01"


class ConsentVerifier:
    """Checks record signatures and checkpoints against one public key."""

    def __init__(self, public_key: ed25519.Ed25519PublicKey) -> None:
        self.public_key = public_key
        self.public_bytes = public_key.public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """Names the key in reports and checkpoints (the public key's sha256, shortened)."""
        return hashlib.sha256(self.public_bytes).hexdigest()[:16]

    @property
    def note_name(self) -> str:
        return f"sonic-registry-{self.key_id}"

    @property
    def origin(self) -> str:
        """The checkpoint's first line: which log it is a checkpoint of."""
        return f"{NOTE_ORIGIN_PREFIX}{self.key_id}"

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)

    def valid(self, signature: str | None, kind: str, fields: dict[str, Any]) -> bool:
        """Whether `signature` (base64) signs this record's fields under this key."""
        if not signature:
            return False
        try:
            self.public_key.verify(base64.b64decode(signature, validate=True),
                                   record_material(kind, fields))
        except (InvalidSignature, ValueError):
            return False
        return True

    def read_checkpoint(self, note: str) -> Checkpoint:
        """The checkpoint a signed note states, or CheckpointError saying why it cannot count."""
        body, separator, signatures = note.rpartition("\n\n")
        if not separator:
            raise CheckpointError("not a signed note (no blank line before the signatures)")
        body += "\n"
        lines = body.split("\n")[:-1]
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has an origin, a size and a hash")
        if lines[0] != self.origin:
            raise CheckpointError(f"it is a checkpoint of {lines[0]!r}, not of this registry "
                                  f"({self.origin})")
        if not self._signed_by_us(body, signatures):
            raise CheckpointError(f"it is not signed by this registry's consent key "
                                  f"({self.key_id})")
        try:
            size = int(lines[1])
            head = base64.b64decode(lines[2], validate=True).hex()
        except ValueError:
            raise CheckpointError("its size or hash line is malformed") from None
        return Checkpoint(size=size, head_hash=head, note=note)

    def _signed_by_us(self, body: str, signatures: str) -> bool:
        for line in signatures.splitlines():
            if not line.startswith(_NOTE_SIGNATURE_PREFIX):
                continue
            name, _, blob = line[len(_NOTE_SIGNATURE_PREFIX):].partition(" ")
            if name != self.note_name:
                continue
            try:
                raw = base64.b64decode(blob, validate=True)
                if raw[:4] != self._note_key_hash():
                    continue
                self.public_key.verify(raw[4:], body.encode("utf-8"))
            except (InvalidSignature, ValueError):
                continue
            return True
        return False

    def _note_key_hash(self) -> bytes:
        material = self.note_name.encode() + b"\n" + _ED25519_NOTE_TYPE + self.public_bytes
        return hashlib.sha256(material).digest()[:4]


class ConsentKey(ConsentVerifier):
    """The private consent key; signs records and checkpoints."""

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        super().__init__(private_key.public_key())
        self._private = private_key

    def __repr__(self) -> str:
        return f"ConsentKey({self.key_id})"

    @property
    def private_key(self) -> ed25519.Ed25519PrivateKey:
        """For the credential and identity signer (`credentials.ConsentIssuer`) only."""
        return self._private

    def sign(self, kind: str, fields: dict[str, Any]) -> str:
        return base64.b64encode(self._private.sign(record_material(kind, fields))).decode()

    def checkpoint(self, size: int, head_hash: str) -> str:
        """A signed note: origin, size, base64 head hash; then our signature line."""
        body = f"{self.origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hash)).decode()}\n"
        signature = self._private.sign(body.encode("utf-8"))
        blob = base64.b64encode(self._note_key_hash() + signature).decode()
        return f"{body}\n{_NOTE_SIGNATURE_PREFIX}{self.note_name} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    size: int
    head_hash: str
    note: str


class CheckpointError(ValueError):
    """A note that does not count as a checkpoint of this registry."""


def record_material(kind: str, fields: dict[str, Any]) -> bytes:
    """The bytes a record signature covers: domain, kind and fields as canonical JSON."""
    return canonical_json([RECORD_DOMAIN, kind, fields]).encode("utf-8")


def subject_fields(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": iso(row.created_at)}


def consent_fields(row: Any) -> dict[str, Any]:
    """Everything that decides what a consent allows, including its revocation and the audit
    event that gave it this state (`state_seq`: a later event naming it makes it stale)."""
    return {
        "id": row.id, "subject_id": row.subject_id, "purposes": list(row.purposes),
        "valid_from": iso(row.valid_from), "valid_until": iso(row.valid_until),
        "evidence_file": row.evidence_file, "evidence_sha256": row.evidence_sha256,
        "evidence_media_type": row.evidence_media_type, "recorded_by": row.recorded_by,
        "recorded_at": iso(row.recorded_at), "revoked_at": iso(row.revoked_at),
        "revoked_by": row.revoked_by, "revoke_reason": row.revoke_reason,
        "grantees": list(row.grantees or ()), "supersedes": row.supersedes,
        "superseded_by": row.superseded_by, "state_seq": row.state_seq,
        "status_index": row.status_index,
    }


def reference_fields(row: Any) -> dict[str, Any]:
    return {"id": row.id, "subject_id": row.subject_id, "consent_id": row.consent_id,
            "backend": row.backend, "model_id": row.model_id,
            "embedding_sha256": hashlib.sha256(row.embedding).hexdigest(),
            "source_sha256": row.source_sha256, "created_at": iso(row.created_at)}


def load_consent_key(path: Path) -> ConsentKey | None:
    """The key in `path` (PKCS#8 PEM), or None when there is no such file."""
    if not path.is_file():
        return None
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise InputError("consent key", f"{path} does not hold a PEM private key") from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise InputError("consent key", f"{path} is not an Ed25519 key")
    return ConsentKey(private)


def create_consent_key(path: Path) -> ConsentKey:
    """A new key, written to `path` (0600). The file appears whole or not at all, and never
    over an existing one (FileExistsError: another process made it first)."""
    private = ed25519.Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return ConsentKey(private)
