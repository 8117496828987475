"""Queue mode's jobs as the API and UI see them: rows of `queue_jobs`, shared by every replica.

The same surface as the in-process `JobManager` (submit, get, of_owner, cancel, uploads), so
the routes and the UI do not know which one they use. A job is submitted only from a
`PreparedGeneration` (the API process ran the gate, whose decision is in the audit log); its row
and its queue entry commit in one transaction. Uploads go to `<home>/queue-inputs/<job>/` on the
shared store, where the worker that takes the job reads them; the worker removes them when the
job ends.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ...consent.models import QueueJob, QueueWorker
from ...contracts import GenerateRequest, GenerationParams
from ...errors import Cancelled
from ...service import PreparedGeneration, SonicService
from ..jobs import (
    ACTIVE_STATES,
    Job,
    JobFinished,
    OnePerService,
    UnknownJob,
    now_stamp,
    stamp_ago,
)
from .engine import defer_in, prepare_node, transaction

INPUTS_DIR = "queue-inputs"


def request_to_dict(request: GenerateRequest) -> dict[str, Any]:
    return {"image": str(request.image), "audio": str(request.audio), "out": str(request.out),
            "purpose": request.purpose, "params": request.params.to_dict(),
            "requested_by": request.requested_by, "consent_ids": list(request.consent_ids)}


def request_from_dict(data: dict[str, Any]) -> GenerateRequest:
    return GenerateRequest(image=Path(data["image"]), audio=Path(data["audio"]),
                           out=Path(data["out"]), purpose=data["purpose"],
                           params=GenerationParams(**data["params"]),
                           requested_by=data["requested_by"],
                           consent_ids=tuple(data["consent_ids"]))


def job_of(row: QueueJob) -> Job:
    """A row as the routes and the UI show jobs (the in-process `Job`, with the worker that
    ran it, its request and whether a cancel was asked for)."""
    job = Job.from_dict({"id": row.id, "owner": row.owner, "purpose": row.request["purpose"],
                          "state": row.state, "created_at": row.created_at,
                          "updated_at": row.updated_at, "progress": row.progress,
                          "result": row.result, "error": row.error, "worker": row.worker})
    job.request = request_from_dict(row.request)
    if row.cancel_reason:
        job.cancel.cancel(row.cancel_reason)
    return job


class QueueJobs(OnePerService):
    """Jobs in the registry's PostgreSQL database, run by `sonic-ext worker` processes."""

    def __init__(self, service: SonicService) -> None:
        """Opens (and migrates) the registry, and creates the queue's schema if absent."""
        self.service = service
        self.engine = prepare_node(service)
        self.uploads_dir = service.settings.home / INPUTS_DIR

    def uploads_for(self, job_id: str) -> Path:
        return self.uploads_dir / job_id

    def submit(self, job_id: str, prepared: PreparedGeneration, owner: str) -> Job:
        """Record the job and enqueue it, in one transaction: both or neither."""
        stamp = now_stamp()
        row = QueueJob(id=job_id, owner=owner, state="queued", created_at=stamp,
                       updated_at=stamp, request=request_to_dict(prepared.request),
                       gate_audit_seq=prepared.decision.audit_seq, attempts=0)
        with transaction(self.engine) as session:
            session.add(row)
            session.flush()
            defer_in(session.connection(), job_id)
        return job_of(row)

    def get(self, job_id: str, owner: str) -> Job:
        with transaction(self.engine) as session:
            row = session.get(QueueJob, job_id)
        if row is None or row.owner != owner:
            raise UnknownJob("job_id", f"no job {job_id!r}")
        return job_of(row)

    def of_owner(self, owner: str) -> list[Job]:
        """The owner's jobs, newest first."""
        with transaction(self.engine) as session:
            rows = session.scalars(select(QueueJob).where(QueueJob.owner == owner)
                                   .order_by(QueueJob.created_at.desc())).all()
        return [job_of(row) for row in rows]

    def cancel(self, job_id: str, owner: str, reason: str = "cancelled through the API") -> Job:
        """A queued job ends here and now; a running one is told through its row, which its
        worker reads while it denoises."""
        with transaction(self.engine) as session:
            row = session.get(QueueJob, job_id, with_for_update=True)
            if row is None or row.owner != owner:
                raise UnknownJob("job_id", f"no job {job_id!r}")
            if row.state not in ACTIVE_STATES:
                raise JobFinished("job_id", f"job {job_id} is {row.state} already; there is "
                                            "nothing to cancel")
            row.cancel_reason, row.updated_at = reason, now_stamp()
            if row.state == "queued":  # the worker that takes it finds it ended
                row.state, row.error = "cancelled", Cancelled(reason).to_dict()
        if row.state == "cancelled":
            shutil.rmtree(self.uploads_for(job_id), ignore_errors=True)
        return job_of(row)

    def workers(self) -> list[dict[str, Any]]:
        """Every worker that reported in during the last day, with `alive`: reported within
        its stall timeout (after that, its job is run again elsewhere)."""
        with transaction(self.engine) as session:
            rows = session.scalars(select(QueueWorker).order_by(QueueWorker.name)).all()
        return [{"name": row.name, "device": row.device, "started_at": row.started_at,
                 "last_seen": row.last_seen, "job_id": row.job_id,
                 "alive": row.last_seen >= stamp_ago(row.stall_timeout_s)} for row in rows]
