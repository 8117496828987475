"""`sonic-ext worker`: one process per GPU runs queued generations, one at a time.

The models load when the worker starts and stay loaded (one `SonicService` per process). Each job:
the worker marks its row running (attempts + 1, its name), runs the consent gate again (a
consent revoked while the job waited refuses it here, and the job says why), then generates
and publishes to the shared output folder exactly as a local generation does (signed, recorded,
renamed into place). Progress goes to the row on every step; a cancel written to the row is
read every `CANCEL_POLL_S` and stops the pipeline at its next cancel point (within the current
denoising step).

A worker that dies (SIGKILL, power loss) stops sending heartbeats; any other worker finds its
job stalled after `stall_timeout_s` and queues it again, up to `MAX_ATTEMPTS` starts, after
which the job is failed. A job whose database connection broke is queued again the same way.
Nothing is published twice: a run killed before its record published nothing (the file appears
only after it is recorded), and the rerun writes the same output path. A run killed between
record and rename is marked failed by the next sweep on its own machine
(`SonicService.sweep_leftovers`), not by a rerun elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError, OperationalError

from ...consent.models import QueueJob
from ...consent.models import QueueWorker as WorkerRow
from ...contracts import GenerationParams
from ...errors import Cancelled, SonicError
from ...progress import CancelToken, ProgressEvent
from ...service import SonicService
from ...settings import use_only_gpu
from ..jobs import FINAL_STATES, now_stamp, stamp_ago
from . import STALL_TIMEOUT_S
from .engine import (
    GENERATE_TASK,
    QUEUE_NAME,
    prepare_node,
    procrastinate_app,
    transaction,
)
from .jobs import request_from_dict

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
CANCEL_POLL_S = 1.0
DAY_S = 24 * 3600.0
SETTLE_WAIT_S = 120.0
WARM_UP_SIZE, WARM_UP_SECONDS = (512, 512), 10.0  # a typical job, for `placement`'s offload


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class QueueWorker:
    """Runs `GENERATE_TASK` jobs of the queue on this process's service."""

    def __init__(self, service: SonicService, url: str, *, device: str = "auto",
                 stall_timeout_s: float = STALL_TIMEOUT_S) -> None:
        """`device`: what every job runs on here: cuda:N (that GPU alone: call before torch
        initialises CUDA), cuda, cpu, or auto (each job's own choice)."""
        self.service = service
        self.device = device
        self.runs_on = device
        if device.startswith("cuda:"):
            use_only_gpu(int(device.split(":", 1)[1]))
            self.runs_on = "cuda"
        self.stall_timeout_s = stall_timeout_s
        self.name = worker_name()
        self.started_at = now_stamp()
        self.job_id: str | None = None  # the job running now, for `GET /workers`
        self.engine = prepare_node(service)
        self.app = procrastinate_app(url)
        from procrastinate import RetryStrategy

        self.app.task(name=GENERATE_TASK, queue=QUEUE_NAME, retry=RetryStrategy(
            max_attempts=MAX_ATTEMPTS, wait=1, retry_exceptions={DatabaseInterrupted}),
        )(self.generate)

    def warm_up(self) -> None:
        """Load the models for a job of the default parameters now: the first job does not
        wait for them, and a worker that cannot load them fails here, not in a job."""
        params = GenerationParams(device=self.runs_on)
        sonic = self.service.sonic
        sonic.models(sonic.placement(params, WARM_UP_SIZE, WARM_UP_SECONDS), params.interpolate)

    def run(self) -> None:
        """Work until SIGINT/SIGTERM (procrastinate's handlers: the running job finishes)."""
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        async with self.app.open_async():
            rounds = asyncio.create_task(self._rounds_forever())
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE_NAME], concurrency=1, name=self.name,
                    update_heartbeat_interval=self.stall_timeout_s / 3,
                    stalled_worker_timeout=self.stall_timeout_s,
                    fetch_job_polling_interval=1.0)
            finally:
                rounds.cancel()
                with transaction(self.engine) as session:  # a clean stop leaves no row behind
                    session.execute(delete(WorkerRow).where(WorkerRow.name == self.name))

    # -- one job ----------------------------------------------------------------------------

    def generate(self, job_id: str) -> None:
        """The task: run job `job_id` unless it ended meanwhile (cancelled while queued). A job
        the database dropped out of (a restart, a failover) is queued again, as a job whose
        worker died is: it published nothing."""
        try:
            row = self._start(job_id)
        except DBAPIError as exc:
            if not _database_interrupted(exc):
                raise
            raise DatabaseInterrupted(str(exc)) from exc
        if row is None:
            return
        self.job_id = job_id
        try:
            self._run(job_id, row)
        finally:
            self.job_id = None

    def _run(self, job_id: str, row: QueueJob) -> None:
        cancel = CancelToken()
        try:
            with self._watch_cancel(job_id, cancel):
                request = request_from_dict(row.request)
                if self.runs_on != "auto":
                    request = replace(request, params=replace(request.params,
                                                              device=self.runs_on))
                prepared = self.service.prepare(request, cancel=cancel)  # the gate, again
                result = self.service.run(prepared, progress=self._reporter(job_id),
                                          cancel=cancel)
            outcome: dict[str, Any] = {"state": "done", "result": result.to_dict()}
        except Exception as exc:  # noqa: BLE001 - the job must say why, the worker goes on
            if _database_interrupted(exc) and row.attempts < MAX_ATTEMPTS:
                log.warning("job %s: the database dropped out (%s); queued again", job_id, exc)
                self._settle(job_id, {"state": "queued", "progress": None})
                raise DatabaseInterrupted(str(exc)) from exc  # procrastinate retries it
            outcome = _outcome_of(job_id, exc)
        self._settle(job_id, outcome)
        shutil.rmtree(self.service.settings.home / "queue-inputs" / job_id, ignore_errors=True)

    def _start(self, job_id: str) -> QueueJob | None:
        with transaction(self.engine) as session:
            row = session.get(QueueJob, job_id, with_for_update=True)
            if row is None or row.state in FINAL_STATES:
                return None
            row.state, row.worker, row.attempts = "running", self.name, row.attempts + 1
            row.progress, row.updated_at = None, now_stamp()
            return row

    def _update(self, job_id: str, attempt: int | None = None, **values: Any) -> None:
        """Set `values` on the job's row (only while its start count is `attempt`, if given:
        a rerun started meanwhile is left alone)."""
        query = update(QueueJob).where(QueueJob.id == job_id)
        if attempt is not None:
            query = query.where(QueueJob.attempts == attempt)
        with transaction(self.engine) as session:
            session.execute(query.values(updated_at=now_stamp(), **values))

    def _settle(self, job_id: str, outcome: dict[str, Any]) -> None:
        """Write how the job ended, waiting out a database restart (up to SETTLE_WAIT_S): the
        output is published and recorded already, and the row must say so."""
        deadline = time.monotonic() + SETTLE_WAIT_S
        while True:
            try:
                self._update(job_id, **outcome)
                return
            except OperationalError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("job %s: cannot save its outcome yet: %s", job_id, exc)
                time.sleep(1.0)

    def _reporter(self, job_id: str):  # noqa: ANN202 - a ProgressCallback for this job
        def report(event: ProgressEvent) -> None:
            try:
                self._update(job_id, progress=event.to_dict())
            except OperationalError as exc:  # progress is for watching: a database blip
                log.warning("job %s: progress not saved: %s", job_id, exc)  # must not fail it

        return report

    @contextmanager
    def _watch_cancel(self, job_id: str, cancel: CancelToken) -> Iterator[None]:
        """Set `cancel` when the job's row asks for it (a DELETE on any API replica)."""
        done = threading.Event()

        def watch() -> None:
            while not done.wait(CANCEL_POLL_S):
                try:
                    with transaction(self.engine) as session:
                        reason = session.get(QueueJob, job_id).cancel_reason
                except OperationalError as exc:  # the database restarting: ask again
                    log.warning("job %s: cannot read its cancel flag: %s", job_id, exc)
                    continue
                if reason:
                    cancel.cancel(reason)
                    return

        watcher = threading.Thread(target=watch, name=f"cancel-{job_id}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    # -- every third of the stall timeout: report in, requeue jobs of dead workers ----------

    async def _rounds_forever(self) -> None:
        while True:
            try:
                self.report_in()
                await self.requeue_stalled()
            except Exception:  # noqa: BLE001 - a database blip must not stop the worker
                log.exception("could not report in or look for stalled jobs")
            await asyncio.sleep(self.stall_timeout_s / 3)

    def report_in(self) -> None:
        """This worker's row for `GET /workers`; rows of workers silent for a day go."""
        now = now_stamp()
        with transaction(self.engine) as session:
            session.merge(WorkerRow(name=self.name, device=self.device,
                                      started_at=self.started_at, last_seen=now,
                                      stall_timeout_s=self.stall_timeout_s, job_id=self.job_id))
            session.execute(delete(WorkerRow).where(WorkerRow.last_seen < stamp_ago(DAY_S)))

    async def requeue_stalled(self) -> None:
        """Jobs whose worker stopped sending heartbeats: queued again, or failed after
        MAX_ATTEMPTS starts. Several workers may find the same job; one wins, the others'
        calls fail on a job no longer `doing`."""
        from procrastinate.jobs import Status

        manager = self.app.job_manager
        for stalled in await manager.get_stalled_jobs(
                task_name=GENERATE_TASK, seconds_since_heartbeat=self.stall_timeout_s):
            job_id = stalled.task_kwargs["job_id"]
            with transaction(self.engine) as session:
                row = session.get(QueueJob, job_id)
                attempts = row.attempts if row is not None else MAX_ATTEMPTS
            try:
                if attempts < MAX_ATTEMPTS:
                    # the row first, before a worker can take the job again
                    self._update(job_id, attempts, state="queued", progress=None)
                    await manager.retry_job(stalled)
                    log.warning("job %s: its worker stopped; queued again", job_id)
                    continue
                await manager.finish_job(stalled, status=Status.FAILED, delete_job=False)
            except Exception as exc:  # noqa: BLE001 - another worker handled it first
                log.info("stalled job %s was handled elsewhere: %s", job_id, exc)
                continue
            self._update(job_id, state="failed", error={
                "code": "worker_lost", "http_status": 500,
                "message": f"the worker running it stopped {attempts} times; nothing was "
                           "published", "hint": "submit it again"})


class DatabaseInterrupted(Exception):
    """A job's database connection broke mid-run: procrastinate runs it again."""


def _database_interrupted(error: BaseException) -> bool:
    """Whether a broken database connection is behind `error` (also when the registry wrapped
    it, e.g. in a PublishError)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OperationalError) or (isinstance(seen, DBAPIError)
                                                  and seen.connection_invalidated):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _outcome_of(job_id: str, error: Exception) -> dict[str, Any]:
    """How a job that raised `error` ended, as its row says."""
    if isinstance(error, Cancelled):
        return {"state": "cancelled", "error": error.to_dict()}
    if isinstance(error, SonicError):
        return {"state": "failed", "error": {**error.to_dict(), "http_status": error.http_status}}
    log.error("job %s failed", job_id, exc_info=error)
    return {"state": "failed", "error": {"code": "error", "http_status": 500,
                                         "message": f"{type(error).__name__}: {error}"}}
