"""The append-only, hash-chained audit log.

Each event's hash covers its sequence number, time, actor, action, payload and the previous
event's hash, so changing, removing or reordering any event breaks every link after it. Plain
hashes only catch careless edits (anyone can recompute them): the registry's consent key signs a
checkpoint of the chain at every event (`signing.py`), and `integrity.py` checks the log against
those and against the checkpoints kept outside the database (the checkpoint file, exports, and
the manifest of every output, which carries the checkpoint of its gate decision).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEvent, RegistryHead
from .records import AuditEntry, iso

GENESIS_HASH = "0" * 64
HASH_DOMAIN = "sonic-ext audit v1"


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def event_hash(seq: int, at: str, actor: str, action: str, payload_json: str,
               prev_hash: str) -> str:
    material = canonical_json([HASH_DOMAIN, seq, at, actor, action, payload_json, prev_hash])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append_event(session: Session, head: RegistryHead, *, actor: str, action: str,
                 payload: dict[str, Any], at: datetime) -> AuditEntry:
    """Add the next link. `head` must come from `RegistryDatabase.write` (the lock is held)."""
    seq, at_text, payload_json = head.audit_seq + 1, str(iso(at)), canonical_json(payload)
    digest = event_hash(seq, at_text, actor, action, payload_json, head.audit_hash)
    row = AuditEvent(seq=seq, at=at_text, actor=actor, action=action, payload=payload_json,
                     prev_hash=head.audit_hash, hash=digest)
    session.add(row)
    head.audit_seq, head.audit_hash = seq, digest
    session.flush()
    return to_entry(row)


def to_entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry(seq=row.seq, at=row.at, actor=row.actor, action=row.action,
                      payload_json=row.payload, prev_hash=row.prev_hash, hash=row.hash)


def link_problem(row: AuditEvent, expected_seq: int, prev_hash: str) -> str | None:
    """What is wrong with this event as the next link after `prev_hash`, or None."""
    if row.seq != expected_seq:
        return f"event {expected_seq} is missing (next event is {row.seq})"
    if row.prev_hash != prev_hash:
        return (f"event {row.seq} does not link to event {row.seq - 1} "
                "(its prev_hash differs from that event's hash)")
    if event_hash(row.seq, row.at, row.actor, row.action, row.payload, row.prev_hash) != row.hash:
        return f"event {row.seq} was altered (its content no longer matches its hash)"
    return None
