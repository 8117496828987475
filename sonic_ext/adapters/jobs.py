"""Generation jobs of the HTTP API and the UI: one worker runs prepared generations in order.

A job is created only from a `PreparedGeneration` (inputs checked, consent gate passed), so a
refusal is answered at once and never queued. Each job is a small JSON file under
`<home>/jobs/`, rewritten on every change: a restarted server still lists its jobs and serves
their videos, and a job that was queued or running when the process died reads `interrupted`.
Cancelling sets the job's token, which the pipeline checks between windows.

One manager per service (`JobManager.for_service`): a WebUI's "Reload UI" builds the routes
again but must not start a second worker or mistake its own running jobs for dead ones.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from ..contracts import GenerateRequest, GenerateResult
from ..errors import Cancelled, Conflict, NotFound, SonicError
from ..progress import CancelToken, ProgressEvent
from ..service import PreparedGeneration, SonicService

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
_JOB_ID = re.compile(r"[0-9a-f]{16}")


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def is_record_id(text: str) -> bool:
    """Whether `text` has the form `new_job_id` gives (jobs and batches): only such names are
    looked up as record files."""
    return _JOB_ID.fullmatch(text) is not None


STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now_stamp() -> str:
    """ISO-8601 UTC with microseconds, the registry's time format; sorts as text."""
    return datetime.now(timezone.utc).strftime(STAMP_FORMAT)


def stamp_ago(seconds: float) -> str:
    """The `now_stamp` of `seconds` ago (compares as text with stamps)."""
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime(STAMP_FORMAT)


class UnknownJob(NotFound):
    """No such job, or one of another user (the answer is the same, so ids cannot be probed)."""


class JobFinished(Conflict):
    """Cancelling a job that has ended already."""


@dataclass
class Job:
    id: str
    owner: str
    purpose: str
    state: str = "queued"
    created_at: str = field(default_factory=now_stamp)
    updated_at: str = ""
    progress: ProgressEvent | None = None
    result: GenerateResult | None = None
    error: dict[str, Any] | None = None
    worker: str | None = None  # queue mode: the `sonic-ext worker` that ran it last
    cancel: CancelToken = field(default_factory=CancelToken, repr=False, compare=False)
    # what it was started with, while this process runs it (a page reloaded meanwhile shows
    # these settings again); not stored: a restarted server has no running job to show
    request: GenerateRequest | None = field(default=None, repr=False, compare=False)

    def published_video(self) -> Path | None:
        """The signed video of a done job while it is still in place, never through a link."""
        if self.state != "done" or self.result is None:
            return None
        out = self.result.out
        return out if out.is_file() and not out.is_symlink() else None

    def to_dict(self) -> dict[str, Any]:
        """The stored form (the result keeps its server path; the API leaves it out)."""
        return {"id": self.id, "owner": self.owner, "purpose": self.purpose,
                "state": self.state, "created_at": self.created_at,
                "updated_at": self.updated_at or self.created_at,
                "progress": self.progress.to_dict() if self.progress else None,
                "result": self.result.to_dict() if self.result else None,
                "error": self.error, "worker": self.worker}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        progress = data.get("progress")
        result = data.get("result")
        event_fields = {f.name for f in fields(ProgressEvent)}
        return cls(
            id=data["id"], owner=data["owner"], purpose=data["purpose"], state=data["state"],
            created_at=data["created_at"], updated_at=data.get("updated_at", ""),
            progress=ProgressEvent(**{k: v for k, v in progress.items() if k in event_fields})
            if progress else None,
            result=GenerateResult(**{**result, "out": Path(result["out"])}) if result else None,
            error=data.get("error"), worker=data.get("worker"))


def write_record(folder: Path, record_id: str, record: dict[str, Any]) -> None:
    """`folder/<record_id>.json`, replaced atomically: a reader never sees half a record."""
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{record_id}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(temp, folder / f"{record_id}.json")
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class JobStore:
    """One JSON file per job, replaced atomically, so a reader never sees half a record."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def save(self, job: Job) -> None:
        job.updated_at = now_stamp()
        write_record(self.folder, job.id, {"schema": 1, **job.to_dict()})

    def load(self) -> list[Job]:
        """Every readable record; half-written temporaries of a dead process are removed."""
        for stale in self.folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        jobs = []
        for path in sorted(self.folder.glob("*.json")):
            if not is_record_id(path.stem):
                continue
            try:
                jobs.append(Job.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable job record %s: %s", path, exc)
        return jobs


class Jobs(Protocol):
    """What the routes and the UI use of a job manager: `JobManager` (one worker thread in this
    process) or, in queue mode, `adapters.queue.jobs.QueueJobs` (worker processes)."""

    uploads_dir: Path

    def uploads_for(self, job_id: str) -> Path: ...
    def submit(self, job_id: str, prepared: PreparedGeneration, owner: str) -> Job: ...
    def get(self, job_id: str, owner: str) -> Job: ...
    def of_owner(self, owner: str) -> list[Job]: ...
    def cancel(self, job_id: str, owner: str, reason: str = ...) -> Job: ...
    def workers(self) -> list[dict[str, Any]]: ...


def jobs_for(service: SonicService) -> Jobs:
    """The service's job manager: queued for `sonic-ext worker` processes in queue mode
    (`Settings.queue_url`), else run by this process's worker thread."""
    if service.settings.queue_url:
        from .queue.jobs import QueueJobs

        return QueueJobs.for_service(service)
    return JobManager.for_service(service)


_Manager = TypeVar("_Manager", bound="OnePerService")


class OnePerService:
    """A job manager made once per service (`for_service`): a WebUI's "Reload UI" builds the
    routes again and must get the same one. Weak values: a manager lives as long as routes or
    queued work use it, and is shared by every router built for the same service meanwhile."""

    service: SonicService
    _managers: ClassVar[weakref.WeakValueDictionary[int, Any]]
    _managers_lock: ClassVar[threading.Lock]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._managers, cls._managers_lock = weakref.WeakValueDictionary(), threading.Lock()

    @classmethod
    def for_service(cls: type[_Manager], service: SonicService) -> _Manager:
        with cls._managers_lock:
            manager = cls._managers.get(id(service))
            if manager is None or manager.service is not service:
                manager = cls._managers[id(service)] = cls(service)
            return manager


class JobManager(OnePerService):
    def __init__(self, service: SonicService, workers: int = 1) -> None:
        """Load the jobs of earlier runs. Those that were active then are `interrupted` now,
        and uploads left by them (or by requests that never became jobs) are removed: one
        server runs the API for a home at a time."""
        self.service = service
        self.store = JobStore(service.settings.home / "jobs")
        self.uploads_dir = service.settings.home / "uploads"
        self._lock = threading.Lock()
        self._jobs = {job.id: job for job in self.store.load()}
        for job in self._jobs.values():
            if job.state in ACTIVE_STATES:
                job.error = {"code": "interrupted", "http_status": 500,
                             "message": f"the server stopped while this job was {job.state}; "
                                        "nothing was published", "hint": "submit it again"}
                job.state = "interrupted"
                self.store.save(job)
        shutil.rmtree(self.uploads_dir, ignore_errors=True)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sonic-job")

    def uploads_for(self, job_id: str) -> Path:
        """Where the API puts a job's uploaded files; removed when the job ends."""
        return self.uploads_dir / job_id

    def submit(self, job_id: str, prepared: PreparedGeneration, owner: str) -> Job:
        job = Job(job_id, owner=owner, purpose=prepared.purpose, request=prepared.request)
        with self._lock:
            self._jobs[job.id] = job
        self.store.save(job)
        self._pool.submit(self._run, job, prepared)
        return job

    def get(self, job_id: str, owner: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise UnknownJob("job_id", f"no job {job_id!r}")
        return job

    def of_owner(self, owner: str) -> list[Job]:
        """The owner's jobs, newest first."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.owner == owner]
        return sorted(jobs, key=lambda job: job.created_at, reverse=True)

    def cancel(self, job_id: str, owner: str, reason: str = "cancelled through the API") -> Job:
        job = self.get(job_id, owner)
        if job.state not in ACTIVE_STATES:
            raise JobFinished("job_id", f"job {job.id} is {job.state} already; there is "
                                        "nothing to cancel")
        job.cancel.cancel(reason)
        return job

    def workers(self) -> list[dict[str, Any]]:
        """None apart: this process's own thread runs the jobs (queue mode lists processes)."""
        return []

    def _run(self, job: Job, prepared: PreparedGeneration) -> None:
        try:
            job.cancel.raise_if_cancelled()
            job.state = "running"
            self.store.save(job)
            job.result = self.service.run(prepared, progress=self._progress(job),
                                          cancel=job.cancel)
            job.state = "done"
        except Cancelled as exc:  # why (the API, the WebUI's Interrupt), for the client
            job.state, job.error = "cancelled", exc.to_dict()
        except SonicError as exc:
            job.state, job.error = "failed", {**exc.to_dict(), "http_status": exc.http_status}
        except Exception as exc:  # noqa: BLE001 - a worker must report, never die silently
            log.exception("job %s failed", job.id)
            job.state = "failed"
            job.error = {"code": "error", "message": f"{type(exc).__name__}: {exc}",
                         "http_status": 500}
        finally:
            shutil.rmtree(self.uploads_for(job.id), ignore_errors=True)
            self.store.save(job)

    def _progress(self, job: Job):  # noqa: ANN202 - a ProgressCallback bound to this job
        def report(event: ProgressEvent) -> None:
            job.progress = event
            self.store.save(job)

        return report
