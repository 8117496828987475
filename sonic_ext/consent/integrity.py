"""Is the registry as its consent key signed it? The checks behind `audit-verify` and the gate.

`audit-verify` (`audit_report`) walks the whole log once and names every rewrite it finds:
- links and hashes (the plain chain: catches careless edits);
- signed checkpoints (`signing.py`): every event since signing began has one, and each must
  verify and match the event's hash, so an edit whose later hashes were recomputed, an event
  appended by SQL and a cut-off tail are all named;
- anchors kept outside the database (the checkpoint file under <home>/audit, exported
  checkpoints, the checkpoints in our manifests): each must verify and lie on the chain, so a
  log rewound to an older state, checkpoints and all, is named too;
- every subject, consent and face reference must carry a valid signature, and each consent's
  signed state must be the one its latest audit event gave it (a row rolled back to an older
  signed state is stale).

The gate (`claim_problem`, `tail_problem`) checks only what one decision relies on, in
constant time: the claimed rows' signatures and freshness, and the chain's head against its
latest checkpoint and the checkpoint file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .audit import GENESIS_HASH, link_problem
from .models import (
    AuditCheckpoint,
    AuditEvent,
    Consent,
    FaceReference,
    RegistryHead,
    Subject,
)
from .records import ChainReport
from .signing import (
    Checkpoint,
    CheckpointError,
    ConsentVerifier,
    consent_fields,
    reference_fields,
    subject_fields,
)

# Audit actions after which a consent's row must carry a new signed state
STATE_ACTIONS = ("consent.add", "consent.amend", "consent.revoke", "registry.adopt")
_BATCH = 1000


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint kept outside the database, and where it came from."""

    source: str
    note: str


def state_changes(action: str, payload: dict[str, object]) -> list[str]:
    """The consent ids whose signed state an audit event changed."""
    if action not in STATE_ACTIONS:
        return []
    if action == "registry.adopt":
        return [str(c) for c in payload.get("consents", [])]  # type: ignore[union-attr]
    changed = [str(payload["consent_id"])]
    if action == "consent.amend" and payload.get("supersedes"):
        changed.append(str(payload["supersedes"]))
    return changed


# ----------------------------------------------------------------------------------------------
# The whole registry (audit-verify)

def audit_report(session: Session, verifier: ConsentVerifier,
                 anchors: Sequence[Anchor] = ()) -> ChainReport:
    """Walk the log and every signed row once; report every problem found, first one first."""
    problems: list[tuple[int | None, str]] = []
    walk = _walk_chain(session, verifier, problems)
    head = session.get(RegistryHead, 1)
    if head is None or (head.audit_seq, head.audit_hash) != (walk.size, walk.head_hash):
        tip = f"event {head.audit_seq}" if head else "no head row"
        problems.append((walk.size + 1, f"the log ends at event {walk.size} but the registry "
                                        f"head records {tip}: newest events were removed or "
                                        "altered"))
    for anchor in anchors:
        problem = _anchor_problem(session, verifier, anchor, walk.size)
        if problem:
            problems.append((None, problem))
    problems.extend((None, p) for p in _record_problems(session, verifier, walk.latest_state))
    first = next((seq for seq, _ in problems if seq is not None), None)
    texts = tuple(text for _, text in problems)
    return ChainReport(ok=not problems, events_checked=walk.size, broken_seq=first,
                       problem=texts[0] if texts else None, problems=texts,
                       checkpoint_size=walk.checkpointed, anchors_checked=len(anchors),
                       key_id=verifier.key_id)


@dataclass
class _Walk:
    size: int = 0
    head_hash: str = GENESIS_HASH
    checkpointed: int | None = None  # the newest event a valid checkpoint covers
    latest_state: dict[str, int] = field(default_factory=dict)  # consent id -> its last event


def _walk_chain(session: Session, verifier: ConsentVerifier,
                problems: list[tuple[int | None, str]]) -> _Walk:
    walk = _Walk()
    rows = session.execute(
        select(AuditEvent, AuditCheckpoint.note)
        .outerjoin(AuditCheckpoint, AuditCheckpoint.size == AuditEvent.seq)
        .order_by(AuditEvent.seq).execution_options(yield_per=_BATCH))
    broken = False
    rewritten = 0  # checkpoints that disagree with the log (only the first is described)
    unchecked_since: int | None = None  # first event after signing began without a checkpoint
    for row, note in rows:
        if not broken:
            problem = link_problem(row, walk.size + 1, walk.head_hash)
            if problem:
                problems.append((min(row.seq, walk.size + 1), problem))
                broken = True
        if note is not None:
            problem = _checkpoint_problem(verifier, note, row)
            if problem:
                rewritten += 1
                if rewritten == 1:
                    problems.append((row.seq, problem))
            else:
                walk.checkpointed = row.seq
            if unchecked_since is not None:
                problems.append((unchecked_since, f"events {unchecked_since} to {row.seq - 1} "
                                 "have no signed checkpoint: they were added or rewritten "
                                 "outside the registry"))
                unchecked_since = None
        elif walk.checkpointed is not None and unchecked_since is None:
            unchecked_since = row.seq
        for consent_id in state_changes(row.action, _payload(row.payload)):
            walk.latest_state[consent_id] = row.seq
        walk.size, walk.head_hash = row.seq, row.hash
    if unchecked_since is not None:
        problems.append((unchecked_since, f"events {unchecked_since} to {walk.size} have no "
                                          "signed checkpoint: they were added or rewritten "
                                          "outside the registry"))
    if rewritten > 1:
        problems.append((None, f"{rewritten} checkpoints in all disagree with the log"))
    beyond = session.scalar(select(func.max(AuditCheckpoint.size)))
    if beyond is not None and beyond > walk.size:
        problems.append((walk.size + 1, f"a signed checkpoint covers {beyond} events but the "
                                        f"log has {walk.size}: events were removed"))
    return walk


def _checkpoint_problem(verifier: ConsentVerifier, note: str, row: AuditEvent) -> str | None:
    try:
        checkpoint = verifier.read_checkpoint(note)
    except CheckpointError as exc:
        return f"the checkpoint stored for event {row.seq} does not count: {exc}"
    if checkpoint.size != row.seq or checkpoint.head_hash != row.hash:
        return (f"event {row.seq} differs from what the consent key signed for it (signed: "
                f"{checkpoint.size} events, head {checkpoint.head_hash[:12]}; log: head "
                f"{row.hash[:12]}): the log was rewritten from here on")
    return None


def _anchor_problem(session: Session, verifier: ConsentVerifier, anchor: Anchor,
                    size: int) -> str | None:
    try:
        checkpoint = verifier.read_checkpoint(anchor.note)
    except CheckpointError as exc:
        return f"{anchor.source}: not a checkpoint of this registry: {exc}"
    if checkpoint.size > size:
        return (f"{anchor.source}: the consent key signed a log of {checkpoint.size} events; "
                f"this log has {size}: it was rewound and events were removed")
    stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == checkpoint.size))
    if stored != checkpoint.head_hash:
        return (f"{anchor.source}: event {checkpoint.size} is not the one the consent key "
                "signed: the log was rewritten")
    return None


def _record_problems(session: Session, verifier: ConsentVerifier,
                     latest_state: dict[str, int]) -> Iterable[str]:
    for subject in session.scalars(select(Subject).order_by(Subject.id)):
        if not verifier.valid(subject.signature, "subject", subject_fields(subject)):
            yield (f"subject {subject.id} is not signed by the consent key: it was inserted "
                   "or edited outside the registry")
    for consent in session.scalars(select(Consent).order_by(Consent.id)):
        problem = consent_problem(verifier, consent, latest_state.get(consent.id))
        if problem:
            yield problem
    for reference in session.scalars(select(FaceReference).order_by(FaceReference.id)
                                     .execution_options(yield_per=_BATCH)):
        if not verifier.valid(reference.signature, "reference", reference_fields(reference)):
            yield (f"face reference {reference.id} (subject {reference.subject_id}) is not "
                   "signed by the consent key: it was inserted or edited outside the registry")


def consent_problem(verifier: ConsentVerifier, consent: Consent,
                    latest_seq: int | None) -> str | None:
    """Why a consent row is not the state the consent key signed last, or None."""
    if not verifier.valid(consent.signature, "consent", consent_fields(consent)):
        return (f"consent {consent.id} is not as the consent key signed it: it was inserted or "
                "edited outside the registry (e.g. a revocation undone)")
    if latest_seq is None:
        return f"consent {consent.id} has no audit event recording it"
    if consent.state_seq != latest_seq:
        return (f"consent {consent.id} holds the state of event {consent.state_seq}, but event "
                f"{latest_seq} changed it since: the row was rolled back")
    return None


def latest_states(session: Session) -> dict[str, int]:
    """Per consent id, the audit event that last changed its state (state events only)."""
    latest: dict[str, int] = {}
    for seq, action, payload in session.execute(
            select(AuditEvent.seq, AuditEvent.action, AuditEvent.payload)
            .where(AuditEvent.action.in_(STATE_ACTIONS)).order_by(AuditEvent.seq)):
        for consent_id in state_changes(action, _payload(payload)):
            latest[consent_id] = seq
    return latest


def _payload(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ----------------------------------------------------------------------------------------------
# One decision (the gate)

def claim_problem(session: Session, verifier: ConsentVerifier, consent: Consent,
                  subject: Subject) -> str | None:
    """Why the gate may not rely on this consent and subject as stored, or None."""
    if not verifier.valid(subject.signature, "subject", subject_fields(subject)):
        return (f"subject {subject.id} is not signed by this registry's consent key (added or "
                "edited outside the registry)")
    changes = session.execute(
        select(AuditEvent.seq, AuditEvent.action, AuditEvent.payload)
        .where(AuditEvent.action.in_(STATE_ACTIONS),
               AuditEvent.payload.contains(f'"{consent.id}"', autoescape=True))
        .order_by(AuditEvent.seq.desc()))
    latest = next((seq for seq, action, payload in changes
                   if consent.id in state_changes(action, _payload(payload))), None)
    return consent_problem(verifier, consent, latest)


def tail_problem(session: Session, verifier: ConsentVerifier, head: RegistryHead,
                 checkpoint_file: Path | None) -> str | None:
    """Why the chain's head cannot be trusted now, or None: it must be the latest signed
    checkpoint's, and not behind the checkpoint file kept outside the database."""
    if head.audit_seq == 0:
        note = None
    else:
        note = session.scalar(select(AuditCheckpoint.note)
                              .where(AuditCheckpoint.size == head.audit_seq))
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == head.audit_seq))
        if note is None:
            signed = session.scalar(select(func.count()).select_from(AuditCheckpoint))
            if signed:
                return (f"the audit log's newest event ({head.audit_seq}) has no signed "
                        "checkpoint: it was written outside the registry")
        else:
            try:
                checkpoint = verifier.read_checkpoint(note)
            except CheckpointError as exc:
                return f"the audit log's latest checkpoint does not count: {exc}"
            if (checkpoint.size, checkpoint.head_hash) != (head.audit_seq, head.audit_hash) \
                    or stored != head.audit_hash:
                return "the audit log's head is not the one the consent key signed"
    outside = read_checkpoint_file(verifier, checkpoint_file)
    if isinstance(outside, str):
        return outside
    if outside is not None:
        if outside.size > head.audit_seq:
            return (f"the checkpoint file says the log had {outside.size} events; it has "
                    f"{head.audit_seq}: it was rewound")
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == outside.size))
        if stored != outside.head_hash:
            return f"event {outside.size} is not the one the checkpoint file's signature covers"
    return None


def read_checkpoint_file(verifier: ConsentVerifier,
                         path: Path | None) -> Checkpoint | str | None:
    """The checkpoint in `path`; None when there is none; a problem text when it is bad."""
    if path is None or not path.is_file():
        return None
    try:
        return verifier.read_checkpoint(path.read_text(encoding="utf-8"))
    except (CheckpointError, UnicodeDecodeError) as exc:
        return f"the checkpoint file {path} does not count: {exc}"


def write_checkpoint_file(path: Path, note: str, size: int) -> None:
    """Replace the file's checkpoint by a newer one, atomically (never by an older one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        if len(lines) > 1 and lines[1].isdigit() and int(lines[1]) >= size:
            return
    partial = path.with_name(f".{path.name}.{size}.tmp")
    partial.write_text(note, encoding="utf-8")
    partial.replace(path)
