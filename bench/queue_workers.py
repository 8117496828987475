"""Queue mode: throughput of tiny-weight jobs with 1, 2 and 4 `sonic-ext worker` processes,
and the latency queue mode adds to one job against the in-process job runner.

Each job is a whole generation (gate again in the worker, 1 denoising step at 256 px on 1 s of
speech, watermark, C2PA signing, publish) on a real PostgreSQL server (Debian's, started as the
tests start it). Jobs are prepared (gate passed) before the clock starts, then all submitted at
once to workers that are up and idle; the time is from the first submission to the last job
done. Every job must end `done`, run once (attempts 1) and leave one published generation.

    .venv/bin/python bench/queue_workers.py [--jobs 40] [--workers 1 2 4]

(Not `bench/queue.py`: run as a script, it would shadow the standard library's `queue`.)

On this 2-core machine the workers share the cores, so more than two cannot add throughput;
on a GPU fleet each worker has its own GPU. One thread per worker (OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # bench.installation, tests.postgres

FAST = {"steps": 1, "min_resolution": 256}


def prepared_jobs(service, consent_id: str, speech: Path, count: int) -> list:  # noqa: ANN001
    from dataclasses import replace

    from bench.installation import PORTRAIT, PURPOSE
    from sonic_ext.adapters.jobs import new_job_id
    from sonic_ext.contracts import GenerateRequest, GenerationParams

    outputs = service.settings.outputs_dir
    base = GenerateRequest(image=PORTRAIT, audio=speech, out=outputs / "x.mp4", purpose=PURPOSE,
                           params=GenerationParams(**FAST), consent_ids=(consent_id,),
                           requested_by="api:bench")
    prepared = []
    for _ in range(count):
        job_id = new_job_id()
        prepared.append((job_id, service.prepare(replace(base, out=outputs / f"{job_id}.mp4"))))
    return prepared


def start_workers(service, url: str, count: int, logs: Path) -> list[subprocess.Popen]:  # noqa: ANN001
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = []
    for index in range(count):
        log = logs / f"worker-{count}-{index}.log"
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "sonic_ext", "--home", str(service.settings.home),
             "--models-dir", str(service.settings.models_dir), "worker", "--queue", url,
             "--device", "cpu"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT))
    for index, worker in enumerate(workers):
        log = logs / f"worker-{count}-{index}.log"
        while b"waiting for jobs" not in log.read_bytes():
            if worker.poll() is not None:
                raise SystemExit(log.read_text(errors="replace"))
            time.sleep(0.1)
    return workers


def run_queued(jobs, prepared: list, timeout_s: float = 3600) -> float:  # noqa: ANN001
    """Seconds from the first submission until every job ended; each must be done once."""
    started = time.monotonic()
    for job_id, ready in prepared:
        jobs.submit(job_id, ready, owner="bench")
    pending = {job_id for job_id, _ in prepared}
    while pending:
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"{len(pending)} jobs still pending after {timeout_s:g} s")
        for job_id in list(pending):
            job = jobs.get(job_id, "bench")
            if job.state in ("done", "failed", "cancelled"):
                if job.state != "done":
                    raise SystemExit(f"job {job_id} {job.state}: {job.error}")
                pending.discard(job_id)
        time.sleep(0.05)
    return time.monotonic() - started


def check_once(service, prepared: list) -> None:  # noqa: ANN001
    from sqlalchemy import text

    ids = [job_id for job_id, _ in prepared]
    with service.registry.database.engine.connect() as connection:
        attempts = connection.execute(text("SELECT max(attempts), count(*) FROM queue_jobs "
                                           "WHERE id = ANY(:ids)"), {"ids": ids}).one()
        published = connection.execute(text("SELECT count(*) FROM generations WHERE status = "
                                             "'published'")).scalar()
    if tuple(attempts) != (1, len(ids)):
        raise SystemExit(f"a job ran more than once: {tuple(attempts)}")
    print(f"    checked: {len(ids)} jobs, each started once; {published} published in all")


def in_process_latency(service, consent_id: str, speech: Path) -> float:  # noqa: ANN001
    """One job through the in-process runner, after a warm-up job (models loaded)."""
    from dataclasses import replace

    from sonic_ext import SonicService
    from sonic_ext.adapters.jobs import JobManager

    local = SonicService(replace(service.settings, queue_url=None))  # same registry and home
    manager = JobManager(local)
    warm, measured = prepared_jobs(local, consent_id, speech, 2)
    run_queued(manager, [warm])
    return run_queued(manager, [measured])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    from bench.installation import consented_service
    from sonic_ext.adapters.queue.jobs import QueueJobs
    from tests.conftest import write_tone_wav
    from tests.postgres import PostgresServer

    server = PostgresServer.start()
    work = Path(tempfile.mkdtemp(prefix="sonic-bench-queue-"))
    try:
        url = server.create_database()
        service, consent_id = consented_service(work, queue_url=url)
        speech = write_tone_wav(work / "speech.wav")
        jobs = QueueJobs.for_service(service)
        logs = work / "logs"
        logs.mkdir()
        rows = []
        for count in args.workers:
            prepared = prepared_jobs(service, consent_id, speech, args.jobs)
            workers = start_workers(service, url, count, logs)
            try:
                seconds = run_queued(jobs, prepared)
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    worker.wait(timeout=120)
            check_once(service, prepared)
            rows.append((count, seconds))
            print(f"  {count} worker(s): {args.jobs} jobs in {seconds:.1f} s", flush=True)

        # latency of one job: queue mode with one warm worker against the in-process runner
        workers = start_workers(service, url, 1, logs)
        try:
            run_queued(jobs, prepared_jobs(service, consent_id, speech, 1))  # warm-up
            queued = run_queued(jobs, prepared_jobs(service, consent_id, speech, 1))
        finally:
            workers[0].send_signal(signal.SIGTERM)
            workers[0].wait(timeout=120)
        local = in_process_latency(service, consent_id, speech)

        base = rows[0][1]
        print(f"\nqueue throughput, {args.jobs} tiny jobs (ratio: jobs/s against "
              f"{rows[0][0]} worker)")
        print("| workers | seconds | jobs/s | ratio |\n|---|---|---|---|")
        for count, seconds in rows:
            print(f"| {count} | {seconds:.1f} | {args.jobs / seconds:.2f} | "
                  f"{base / seconds:.2f} |")
        print(f"\none job, warm: in-process {local:.2f} s, queue mode {queued:.2f} s "
              f"({queued - local:+.2f} s, ratio {queued / local:.2f})")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
