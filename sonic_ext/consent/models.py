"""Registry tables. The Alembic migrations in `migrations/` create exactly these.

Times are stored in UTC. Embeddings are float32 little-endian bytes; the images they came from are
not kept, only their sha256. Audit payloads are stored as the canonical JSON text that was hashed,
so verification reads back the very bytes it checks.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("registry times must carry a timezone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class RegistryHead(Base):
    """One row (id 1): the lock every write takes first, the audit chain's tip, and a counter
    that changes whenever face references change (so cached reference matrices know to reload).
    """

    __tablename__ = "registry_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    audit_seq: Mapped[int] = mapped_column(Integer)
    audit_hash: Mapped[str] = mapped_column(String(64))
    references_version: Mapped[int] = mapped_column(Integer)


class Subject(Base):
    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The consent key's signature over the row (consent/signing.py); None: not signed
    signature: Mapped[str | None] = mapped_column(Text)


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    purposes: Mapped[list[str]]
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence_file: Mapped[str] = mapped_column(String(255))
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # Who may generate under it ("any", "USER", "SURFACE:USER"); none: nobody (fail closed).
    grantees: Mapped[list[str]] = mapped_column(default=list)
    evidence_media_type: Mapped[str | None] = mapped_column(String(128))
    # An amendment is a new consent that `supersedes` the old; the old is then out of force.
    supersedes: Mapped[str | None] = mapped_column(String(32))
    superseded_by: Mapped[str | None] = mapped_column(String(32))
    # The audit event that gave the consent its present state; signed with it
    state_seq: Mapped[int | None] = mapped_column(Integer)
    signature: Mapped[str | None] = mapped_column(Text)
    # Its bit in the signed revocation status list, and its signed consent credential (a VC-JWT,
    # consent/credentials.py) that every manifest relying on it carries
    status_index: Mapped[int | None] = mapped_column(Integer, index=True, unique=True)
    credential: Mapped[str | None] = mapped_column(Text)


class FaceReference(Base):
    __tablename__ = "face_references"
    # AUTOINCREMENT: ids are never reused, so "rows above the last id loaded" is exact.
    __table_args__ = (Index("ix_face_references_model_id_id", "model_id", "id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    backend: Mapped[str] = mapped_column(String(32))
    model_id: Mapped[str] = mapped_column(String(128))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[str | None] = mapped_column(Text)


class Generation(Base):
    __tablename__ = "generations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    output_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    watermark_id: Mapped[str | None] = mapped_column(String(128), index=True, unique=True)
    manifest: Mapped[dict[str, Any]]
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    parameters: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The output's perceptual fingerprint (provenance/fingerprint.py), up to ~1 MB: loaded only
    # when verification asks for it. None for generations recorded before revision 0003.
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """The consent key's signed checkpoint (a C2SP signed note) of the chain at each size."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)


class QueueJob(Base):
    """A generation job of queue mode (`sonic_ext/adapters/queue`): what every API replica
    shows and what a worker runs. Operational state, outside the audit chain: the gate's
    decision for it is in the audit log (`gate_audit_seq`), and so is the worker's own check at
    start."""

    __tablename__ = "queue_jobs"
    __table_args__ = (Index("ix_queue_jobs_owner_created", "owner", "created_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))
    request: Mapped[dict[str, Any]]
    gate_audit_seq: Mapped[int | None] = mapped_column(Integer)
    progress: Mapped[dict[str, Any] | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    worker: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class QueueWorker(Base):
    """A `sonic-ext worker` process as it last reported itself (every third of its stall
    timeout): what `GET /workers` shows an operator."""

    __tablename__ = "queue_workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    device: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[str] = mapped_column(String(32))
    last_seen: Mapped[str] = mapped_column(String(32))
    stall_timeout_s: Mapped[float] = mapped_column(Float)
    job_id: Mapped[str | None] = mapped_column(String(16))
