"""Jobs outlive the server: killed mid-job, a new server on the same home still lists them,
serves the finished video, and reports the one that was running as interrupted."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from sonic_ext import SonicService
from sonic_ext.adapters.api.auth import ApiAuth
from sonic_ext.adapters.api.router import create_router
from sonic_ext.adapters.jobs import JobManager
from tests.api.conftest import FACES, OPS, QA, USERS, Serve, make_service
from tests.conftest import consent_ids
from tests.servers import free_port, wait_until_up

REPO = Path(__file__).resolve().parents[2]


def _start(api: str, speech: Path, steps: int, claims: tuple[str, ...]) -> str:
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        started = httpx.post(f"{api}/generate", auth=OPS, files={"image": image, "audio": audio},
                             data={"purpose": "education", "consent_id": list(claims),
                                   "params": f'{{"steps": {steps}, "min_resolution": 256}}'},
                             timeout=120)  # face detection and the gate run in the request
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


def _wait(api: str, job_id: str, until: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while (job := httpx.get(f"{api}/jobs/{job_id}", auth=OPS).json())["state"] not in until:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_jobs_survive_a_killed_server(obama_consented: SonicService, tiny_models: Path,
                                      serve: Serve, speech: Path) -> None:
    home = obama_consented.settings.home
    claims = consent_ids(obama_consented)
    port = free_port()
    users = ",".join(f"{user}:{password}" for user, password in USERS.items())
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.api.router_app", "--home", str(home), "--models-dir",
         str(tiny_models), "--port", str(port), "--users", users], cwd=REPO)
    api = f"http://127.0.0.1:{port}/sonic/v1"
    try:
        wait_until_up(f"{api}/health", process=server)
        finished = _wait(api, _start(api, speech, steps=1, claims=claims),
                         until=("done", "failed"))
        assert finished["state"] == "done", finished
        video = httpx.get(f"{api}/{finished['video_url']}", auth=OPS).content
        killed_id = _start(api, speech, steps=4, claims=claims)
        running = _wait(api, killed_id, until=("running", "done", "failed"))
        assert running["state"] == "running", running
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    assert (home / "uploads" / killed_id).is_dir()  # the dead server's upload is still there

    with serve(make_service(home, tiny_models)) as base:
        api = f"{base}/sonic/v1"
        jobs = httpx.get(f"{api}/jobs", auth=OPS).json()["jobs"]
        assert [(j["id"], j["state"]) for j in jobs] == [(killed_id, "interrupted"),
                                                         (finished["id"], "done")]
        assert jobs[0]["error"]["code"] == "interrupted"
        assert "running" in jobs[0]["error"]["message"]
        assert jobs[1]["result"] == finished["result"]
        again = httpx.get(f"{api}/{finished['video_url']}", auth=OPS)
        assert again.status_code == 200
        assert hashlib.sha256(again.content).hexdigest() == finished["result"]["sha256"] == \
            hashlib.sha256(video).hexdigest()
        assert httpx.get(f"{api}/jobs/{killed_id}/video", auth=OPS).status_code == 409
        assert httpx.delete(f"{api}/jobs/{killed_id}", auth=OPS).status_code == 409
        assert httpx.get(f"{api}/jobs/{finished['id']}", auth=QA).status_code == 404
        # a symlink put where the video was is not followed (it led to the registry database)
        out = obama_consented.settings.outputs_dir / finished["result"]["file_name"]
        out.unlink()
        out.symlink_to(home / "registry.db")
        swapped = httpx.get(f"{api}/{finished['video_url']}", auth=OPS)
        assert swapped.status_code == 404 and b"SQLite" not in swapped.content
    assert not (home / "uploads" / killed_id).exists()
    published = [p.name for p in obama_consented.settings.outputs_dir.glob("*.mp4")
                 if not p.name.startswith(".")]
    assert published == [finished["result"]["file_name"]]


def test_routers_built_again_for_one_service_share_its_jobs(admin_service: SonicService
                                                            ) -> None:
    """A WebUI's "Reload UI" mounts the routes again: same jobs, no second worker."""
    first = JobManager.for_service(admin_service)
    create_router(admin_service, ApiAuth())
    assert JobManager.for_service(admin_service) is first
    restarted = make_service(admin_service.settings.home)
    assert JobManager.for_service(restarted) is not first


def test_unreadable_job_records_are_skipped(admin_service: SonicService, serve: Serve) -> None:
    jobs = admin_service.settings.home / "jobs"
    jobs.mkdir()
    (jobs / "0123456789abcdef.json").write_text('{"id": "0123456789abcdef", "state": "do')
    (jobs / ".0123456789abcdef-x.tmp").write_text("{")
    with serve(admin_service) as base:
        assert httpx.get(f"{base}/sonic/v1/jobs", auth=OPS).json() == {"jobs": []}
    assert [p.name for p in jobs.iterdir()] == ["0123456789abcdef.json"]
