"""Typed results the registry hands out; the ORM rows never leave a transaction.

Every record has `to_dict()` with JSON-safe values (ISO-8601 UTC times), the form the CLI's
`--json`, the API and manifests use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

Clock = Callable[[], datetime]

def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with microseconds and a `Z`, the one time format of the audit log."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def consent_status(revoked_at: datetime | None, valid_from: datetime,
                   valid_until: datetime | None, now: datetime, *,
                   superseded: bool = False) -> str:
    """One of: active, revoked, expired, not-yet-valid, superseded (an amendment replaced
    it)."""
    if revoked_at is not None:
        return "revoked"
    if superseded:
        return "superseded"
    if now < valid_from:
        return "not-yet-valid"
    if valid_until is not None and now >= valid_until:
        return "expired"
    return "active"


@dataclass(frozen=True)
class ConsentRecord:
    id: str
    subject_id: str
    subject_name: str
    purposes: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    recorded_by: str
    recorded_at: datetime
    evidence_path: Path
    evidence_sha256: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    status: str
    reference_models: tuple[str, ...]
    grantees: tuple[str, ...] = ()
    evidence_media_type: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "subject_id": self.subject_id, "subject_name": self.subject_name,
            "grantees": list(self.grantees), "evidence_media_type": self.evidence_media_type,
            "supersedes": self.supersedes, "superseded_by": self.superseded_by,
            "purposes": list(self.purposes), "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until), "recorded_by": self.recorded_by,
            "recorded_at": iso(self.recorded_at), "evidence_path": str(self.evidence_path),
            "evidence_sha256": self.evidence_sha256, "revoked_at": iso(self.revoked_at),
            "revoked_by": self.revoked_by, "revoke_reason": self.revoke_reason,
            "status": self.status, "reference_models": list(self.reference_models),
        }


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    payload_json: str
    prev_hash: str
    hash: str
    checkpoint: str | None = None  # the signed note of the log at this event, when just made

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.payload_json))

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
                "payload": self.payload, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class ConsentDetails:
    """`consent show`: the consent and every audit event that names it, oldest first."""

    consent: ConsentRecord
    history: tuple[AuditEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.consent.to_dict(), "history": [e.to_dict() for e in self.history]}


@dataclass(frozen=True)
class ChainReport:
    """Result of `audit-verify` (`integrity.audit_report`): ok, or every problem found, the
    first (`problem`) at the earliest event involved (`broken_seq`) when one is."""

    ok: bool
    events_checked: int
    broken_seq: int | None = None
    problem: str | None = None
    problems: tuple[str, ...] = ()
    checkpoint_size: int | None = None  # the newest event a valid signed checkpoint covers
    anchors_checked: int = 0  # checkpoints kept outside the database that were checked
    key_id: str | None = None  # the consent key everything was checked against

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events_checked": self.events_checked,
                "broken_seq": self.broken_seq, "problem": self.problem,
                "problems": list(self.problems), "checkpoint_size": self.checkpoint_size,
                "anchors_checked": self.anchors_checked, "key_id": self.key_id}


@dataclass(frozen=True)
class GenerationRecord:
    id: str
    consent_id: str
    status: str
    output_sha256: str | None
    watermark_id: str | None
    manifest: dict[str, Any]
    parameters: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "consent_id": self.consent_id, "status": self.status,
                "output_sha256": self.output_sha256, "watermark_id": self.watermark_id,
                "manifest": self.manifest, "parameters": self.parameters,
                "created_at": iso(self.created_at)}


@dataclass(frozen=True)
class TracedGeneration:
    """Where a watermark leads: the generation, its consent as it stands now, and the output's
    fingerprint (None for generations recorded before fingerprints existed)."""

    generation: GenerationRecord
    consent: ConsentRecord
    fingerprint: bytes | None = field(repr=False)
