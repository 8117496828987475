"""Queue mode on real PostgreSQL with real worker processes: the gate in the API, the job and
its queue entry committed together, live state on every replica, and the faults a fleet of GPU
workers meets (a consent revoked while a job waits, a cancel, a worker killed mid-denoise).

The tests share one deployment and run in order; each leaves its workers running for the next.
"""

from __future__ import annotations

import hashlib
import signal
import time

import httpx
import pytest
from sqlalchemy.orm import Session

from sonic_ext.adapters.jobs import new_job_id, now_stamp
from sonic_ext.adapters.queue import jobs as queue_jobs
from sonic_ext.consent.models import QueueJob
from tests.api.conftest import FACES, OPS
from tests.conftest import consent_ids
from tests.evidence import write_release_pdf
from tests.queue.conftest import SLOW, STALL_TIMEOUT_S, Deployment, ended

pytestmark = pytest.mark.timeout(600)


def _published(deployment: Deployment) -> list[str]:
    return sorted(p.name for p in deployment.service.settings.outputs_dir.iterdir())


def test_a_job_and_its_queue_entry_commit_together(deployment: Deployment, monkeypatch):
    """A job row without its queue entry would wait forever; a queue entry without its row
    would run a job nobody can see. Either write failing leaves neither."""
    claims = list(consent_ids(deployment.service))

    def enqueue_fails(connection, job_id):
        raise RuntimeError("the queue refused the job")

    monkeypatch.setattr(queue_jobs, "defer_in", enqueue_fails)
    assert deployment.post(claims).status_code == 500
    monkeypatch.undo()
    assert deployment.scalar("SELECT count(*) FROM queue_jobs") == 0
    assert deployment.scalar("SELECT count(*) FROM procrastinate_jobs") == 0

    def enqueued_then_commit_fails(connection, job_id):
        real_defer_in(connection, job_id)
        raise RuntimeError("the connection dropped before the commit")

    real_defer_in = queue_jobs.defer_in
    monkeypatch.setattr(queue_jobs, "defer_in", enqueued_then_commit_fails)
    assert deployment.post(claims).status_code == 500
    monkeypatch.undo()
    assert deployment.scalar("SELECT count(*) FROM queue_jobs") == 0
    assert deployment.scalar("SELECT count(*) FROM procrastinate_jobs") == 0

    job_id = deployment.submit(claims)
    assert deployment.scalar("SELECT count(*) FROM procrastinate_jobs") == 1
    # no worker runs yet: the job waits, and a cancel on another replica ends it there
    cancelled = httpx.delete(f"{deployment.replicas[1]}/jobs/{job_id}", auth=OPS).json()
    assert cancelled["state"] == "cancelled" and cancelled["error"]["code"] == "cancelled"
    assert not (deployment.home / "queue-inputs" / job_id).exists()


def test_three_workers_never_take_one_job_twice(deployment: Deployment):
    """50 jobs made visible at once (one transaction) to three idle workers. They end at the
    worker's first input check (their portrait is not there), so the time goes to the claims,
    which are what could double; each must be started exactly once."""
    workers = [deployment.start_worker() for _ in range(3)]
    missing = deployment.home / "queue-inputs" / "gone"
    request = {"image": str(missing / "portrait.jpg"), "audio": str(missing / "audio.wav"),
               "out": str(deployment.service.settings.outputs_dir / "never.mp4"),
               "purpose": "education", "params": {}, "requested_by": "api:ops",
               "consent_ids": list(consent_ids(deployment.service))}
    job_ids = [new_job_id() for _ in range(50)]
    with Session(deployment.service.registry.database.engine) as session, session.begin():
        for job_id in job_ids:
            stamp = now_stamp()
            session.add(QueueJob(id=job_id, owner="ops", state="queued", created_at=stamp,
                                 updated_at=stamp, request=request, attempts=0))
            session.flush()
            queue_jobs.defer_in(session.connection(), job_id)
    jobs = [deployment.wait(job_id, ended, timeout_s=120) for job_id in job_ids]
    assert {job["state"] for job in jobs} == {"failed"}
    assert {job["error"]["code"] for job in jobs} == {"bad_input"}
    assert deployment.scalar("SELECT count(*) FROM queue_jobs WHERE attempts = 1 AND id = "
                             "ANY(:ids)", ids=job_ids) == 50
    assert deployment.scalar("SELECT count(*) FROM procrastinate_jobs WHERE attempts <= 1 "
                             "AND args->>'job_id' = ANY(:ids)", ids=job_ids) == 50  # no retry
    assert len({job["worker"] for job in jobs}) >= 2  # they did compete
    for worker in workers:  # the next test needs a queue nobody takes from
        deployment.kill(worker, signal.SIGTERM)


def test_a_consent_revoked_while_the_job_waits_refuses_it_at_the_start(
        deployment: Deployment, tmp_path):
    service = deployment.service
    biden = service.add_consent("Joe Biden", [FACES / "biden.jpg"],
                                write_release_pdf(tmp_path / "release.pdf"), ["education"],
                                None, "test operator", grantees=["any"])
    job_id = deployment.submit([biden.id], portrait="biden2.jpg")  # the API's gate passed it
    service.revoke_consent(biden.id, "withdrawn", "test operator")
    deployment.start_worker()
    job = deployment.wait(job_id, ended)
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "consent_refused" and "revoked" in job["error"]["message"]
    assert job["worker"] and job["result"] is None
    assert deployment.scalar("SELECT count(*) FROM generations") == 0
    assert _published(deployment) == []
    assert not (deployment.home / "queue-inputs" / job_id).exists()


def test_jobs_run_once_on_the_workers_and_every_replica_follows_them(deployment: Deployment):
    """Two workers, three jobs; each runs exactly once, longer than the stall timeout."""
    deployment.start_worker()
    claims = list(consent_ids(deployment.service))
    started = time.monotonic()
    job_ids = [deployment.submit(claims, replica=i % 2) for i in range(3)]
    jobs = [deployment.wait(job_id, ended) for job_id in job_ids]
    assert [job["state"] for job in jobs] == ["done"] * 3, jobs
    # a job outlives the stall timeout without being taken twice: heartbeats, not a deadline
    assert time.monotonic() - started > STALL_TIMEOUT_S
    assert deployment.scalar("SELECT max(attempts) FROM queue_jobs WHERE state = 'done'") == 1
    assert deployment.scalar("SELECT count(*) FROM generations WHERE status = 'published'") == 3
    workers = httpx.get(f"{deployment.replicas[1]}/workers", auth=OPS).json()
    assert workers["jobs"] == "queue"
    assert {(w["name"], w["alive"], w["device"]) for w in workers["workers"]} == \
        {(name, True, "cpu") for name in _worker_names(deployment)}
    assert {job["worker"] for job in jobs} <= _worker_names(deployment)
    for job in jobs:  # served from the shared store by the replica that did not take it
        video = httpx.get(f"{deployment.replicas[1]}/{job['video_url']}", auth=OPS)
        assert hashlib.sha256(video.content).hexdigest() == job["result"]["sha256"]
        report = deployment.services[1].verify(
            deployment.service.settings.outputs_dir / job["result"]["file_name"])
        assert report.verdict == "authentic", report
        assert report.generation and report.generation["id"] == job["result"]["generation_id"]
    assert _published(deployment) == sorted(f"{job_id}.mp4" for job_id in job_ids)


def test_a_cancel_on_any_replica_reaches_the_worker_running_the_job(deployment: Deployment):
    job_id = deployment.submit(list(consent_ids(deployment.service)), params=SLOW)
    deployment.wait(job_id, lambda job: (job["progress"] or {}).get("stage") == "denoise")
    asked = time.monotonic()
    assert httpx.delete(f"{deployment.replicas[1]}/jobs/{job_id}", auth=OPS).status_code == 200
    job = deployment.wait(job_id, ended)
    assert job["state"] == "cancelled", job
    assert time.monotonic() - asked < 15
    assert not (deployment.service.settings.outputs_dir / f"{job_id}.mp4").exists()


def test_a_worker_killed_mid_denoise_leaves_its_job_to_another(deployment: Deployment):
    before = _published(deployment)
    job_id = deployment.submit(list(consent_ids(deployment.service)), params=SLOW)
    running = deployment.wait(job_id, lambda job: (job["progress"] or {}).get("stage")
                              == "denoise")
    victim = int(running["worker"].rsplit(":", 1)[1])
    deployment.kill(deployment.workers[victim], signal.SIGKILL)
    job = deployment.wait(job_id, ended)
    assert job["state"] == "done", job
    assert job["worker"] != running["worker"]
    assert deployment.scalar("SELECT attempts FROM queue_jobs WHERE id = :id", id=job_id) == 2
    assert deployment.scalar("SELECT count(*) FROM generations WHERE watermark_id = :w",
                             w=job["result"]["watermark_id"]) == 1
    assert _published(deployment) == sorted([*before, f"{job_id}.mp4"])  # nothing staged
    workers = {w["name"]: w for w in
               httpx.get(f"{deployment.replicas[0]}/workers", auth=OPS).json()["workers"]}
    assert not workers[running["worker"]]["alive"] and workers[job["worker"]]["alive"]


def test_a_database_restart_loses_no_queued_job(deployment: Deployment):
    """The queue is the database: jobs queued when it restarts are still there after, and
    the workers (their pooled and listening connections broken) go on taking them."""
    claims = list(consent_ids(deployment.service))
    deployment.start_worker()
    job_ids = [deployment.submit(claims) for _ in range(3)]
    deployment.server.pg_ctl("restart")
    jobs = [deployment.wait(job_id, ended) for job_id in job_ids]
    assert [job["state"] for job in jobs] == ["done"] * 3, (jobs, deployment.worker_logs())
    for job in jobs:
        assert deployment.scalar("SELECT count(*) FROM generations WHERE watermark_id = :w "
                                 "AND status = 'published'", w=job["result"]["watermark_id"]) == 1
    assert all(worker.poll() is None for worker in deployment.workers.values())


def _worker_names(deployment: Deployment) -> set[str]:
    import socket

    return {f"{socket.gethostname()}:{pid}" for pid in deployment.workers}
