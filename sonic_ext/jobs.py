"""Generation jobs for the HTTP API: one worker runs prepared generations in order.

A job is created only from a `PreparedGeneration` (inputs checked, consent gate passed), so a
refusal is answered at once and never queued. Progress, result and error stay readable until
the process ends; cancelling sets the job's token, which the pipeline checks between windows.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .errors import Cancelled, InputError, SonicError
from .progress import CancelToken, ProgressEvent
from .requests import GenerateResult
from .service import PreparedGeneration, SonicService

log = logging.getLogger(__name__)


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Job:
    id: str
    state: str = "queued"  # queued | running | done | failed | cancelled
    created_at: float = field(default_factory=time.time)
    progress: ProgressEvent | None = None
    result: GenerateResult | None = None
    error: dict[str, object] | None = None
    cancel: CancelToken = field(default_factory=CancelToken, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "state": self.state, "created_at": self.created_at,
                "progress": self.progress.to_dict() if self.progress else None,
                "result": self.result.to_dict() if self.result else None,
                "error": self.error}


class JobManager:
    def __init__(self, service: SonicService, workers: int = 1) -> None:
        self.service = service
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sonic-job")

    def submit(self, job_id: str, prepared: PreparedGeneration) -> Job:
        job = Job(job_id)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, prepared)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise InputError("job_id", f"no job {job_id!r}")
            return self._jobs[job_id]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancel.cancel("cancelled through the API")
        return job

    def _run(self, job: Job, prepared: PreparedGeneration) -> None:
        if job.cancel.cancelled:
            job.state = "cancelled"
            return
        job.state = "running"
        try:
            job.result = self.service.run(prepared, progress=self._progress(job),
                                          cancel=job.cancel)
            job.state = "done"
        except Cancelled:
            job.state = "cancelled"
        except SonicError as exc:
            job.state, job.error = "failed", {**exc.to_dict(), "http_status": exc.http_status}
        except Exception as exc:  # noqa: BLE001 - a worker must report, never die silently
            log.exception("job %s failed", job.id)
            job.state = "failed"
            job.error = {"code": "error", "message": f"{type(exc).__name__}: {exc}",
                         "http_status": 500}

    @staticmethod
    def _progress(job: Job):  # noqa: ANN205 - a ProgressCallback bound to this job
        def report(event: ProgressEvent) -> None:
            job.progress = event

        return report
