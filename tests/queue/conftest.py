"""A queue-mode deployment on this machine: a real PostgreSQL database holding registry and
queue, one shared home, two API replicas (each its own service, as on two machines) and real
`sonic-ext worker` processes started and killed by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sonic_ext import Settings, SonicService
from tests.api.conftest import FACES, OPS, USERS
from tests.api.router_app import router_app
from tests.conftest import write_tone_wav
from tests.evidence import write_release_pdf
from tests.servers import serve_in_thread

pytest.importorskip("procrastinate")

REPO = Path(__file__).resolve().parents[2]
STALL_TIMEOUT_S = 3.0
FAST = '{"steps": 1, "min_resolution": 256}'
SLOW = '{"steps": 6, "min_resolution": 256}'  # long enough to be caught mid-denoise


@dataclass
class Deployment:
    server: Any  # tests.postgres.PostgresServer
    url: str
    home: Path
    models: Path
    speech: Path
    replicas: list[str]  # base URLs of the API replicas, /sonic/v1
    services: list[SonicService]
    logs: Path
    workers: dict[int, subprocess.Popen] = field(default_factory=dict)

    @property
    def service(self) -> SonicService:
        return self.services[0]

    def start_worker(self) -> subprocess.Popen:
        """A `sonic-ext worker` process, returned once it waits for jobs."""
        log = self.logs / f"worker-{len(self.workers)}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("SONIC_DB_URL", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "sonic_ext", "--home", str(self.home), "--models-dir",
             str(self.models), "worker", "--queue", self.url, "--device", "cpu",
             "--stall-timeout", str(STALL_TIMEOUT_S)],
            cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while b"waiting for jobs" not in log.read_bytes():
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        self.workers[process.pid] = process
        return process

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        process.send_signal(sig)
        process.wait(timeout=60)
        self.workers.pop(process.pid, None)

    def post(self, consent_ids: list[str], params: str = FAST, replica: int = 0,
             portrait: str = "obama2.jpg") -> httpx.Response:
        """POST /generate of a portrait (Barack Obama's) with the speech clip."""
        with (FACES / portrait).open("rb") as image, self.speech.open("rb") as audio:
            return httpx.post(f"{self.replicas[replica]}/generate", auth=OPS,
                              files={"image": image, "audio": audio},
                              data={"purpose": "education", "consent_id": consent_ids,
                                    "params": params}, timeout=120)

    def submit(self, consent_ids: list[str], params: str = FAST, replica: int = 0,
               portrait: str = "obama2.jpg") -> str:
        """A job queued through `replica`, by its id."""
        started = self.post(consent_ids, params, replica, portrait)
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "queued"
        return str(started.json()["id"])

    def job(self, job_id: str, replica: int = 1) -> dict[str, Any]:
        answer = httpx.get(f"{self.replicas[replica]}/jobs/{job_id}", auth=OPS)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wait(self, job_id: str, until: Any, timeout_s: float = 240) -> dict[str, Any]:
        """The job (read on the second replica) once `until(job)` holds."""
        deadline = time.monotonic() + timeout_s
        while not until(job := self.job(job_id)):
            assert time.monotonic() < deadline, (job, self.worker_logs())
            time.sleep(0.2)
        return job

    def worker_logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs.glob("*.log"))

    def scalar(self, query: str, **params: Any) -> Any:
        with self.service.registry.database.engine.connect() as connection:
            return connection.execute(text(query), params).scalar()


def ended(job: dict[str, Any]) -> bool:
    return job["state"] in ("done", "failed", "cancelled")


@pytest.fixture(scope="module")
def deployment(postgres: Any, tiny_models: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("queue")
    url = postgres.create_database()
    home = root / "shared-home"  # what every node mounts
    services = []
    for _ in range(2):  # one service per replica, as two machines have
        settings = Settings.from_environment({}, home=home, models_dir=tiny_models,
                                             queue_url=url)
        settings.ensure_dirs()
        services.append(SonicService(settings))
    evidence = write_release_pdf(root / "release.pdf")
    services[0].add_consent("Barack Obama", [FACES / "obama.jpg"], evidence, ["education"],
                            None, "test operator", grantees=["any"])
    logs = root / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        replicas = [stack.enter_context(serve_in_thread(router_app(service, _auth())))
                    + "/sonic/v1" for service in services]
        deployment = Deployment(postgres, url, home, tiny_models, write_tone_wav(root / "speech.wav"),
                                replicas, services, logs)
        try:
            yield deployment
        finally:
            for process in list(deployment.workers.values()):
                deployment.kill(process, signal.SIGTERM)


def _auth() -> Any:
    from sonic_ext.adapters.api.auth import ApiAuth

    return ApiAuth(users=USERS)
