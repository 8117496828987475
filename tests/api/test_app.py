"""The standalone app served for real on 127.0.0.1: API routes, auth, and the mounted gradio UI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio", minversion="4.0", reason="the standalone app is gradio 4; hosts "
                    "with gradio 3 mount only the router (tests/api/router_app.py)")
from gradio_client import Client  # noqa: E402 - after the skip

from sonic_ext import SonicService, __version__  # noqa: E402
from sonic_ext.adapters.api.auth import ApiAuth  # noqa: E402
from sonic_ext.adapters.app import create_app  # noqa: E402
from tests.servers import free_port, serve_in_thread, wait_until_up  # noqa: E402


@pytest.fixture
def open_app(service: SonicService) -> Iterator[str]:
    with serve_in_thread(create_app(service, ApiAuth())) as base:
        yield base


@pytest.fixture
def locked_app(service: SonicService) -> Iterator[str]:
    auth = ApiAuth(users={"alice": "wonder:land"})
    with serve_in_thread(create_app(service, auth)) as base:
        yield base


def test_health_answers_with_version_home_and_models(open_app: str,
                                                     service: SonicService) -> None:
    response = httpx.get(f"{open_app}/sonic/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == __version__
    assert body["home"] == str(service.settings.home)
    assert body["models"]["ready"] is False
    assert body["models"]["expected"] == 13


def test_openapi_documents_the_api(open_app: str) -> None:
    spec = httpx.get(f"{open_app}/openapi.json").json()
    assert {"/sonic/v1/health", "/sonic/v1/models", "/sonic/v1/consents"} <= set(spec["paths"])
    assert spec["info"]["version"] == __version__
    assert [tag["name"] for tag in spec["tags"]] == ["generate", "jobs", "verify", "consent",
                                                     "status"]


def test_ui_has_the_four_tabs(open_app: str) -> None:
    config = httpx.get(f"{open_app}/config").json()
    tabs = [c["props"]["label"] for c in config["components"] if c["type"] == "tabitem"]
    assert tabs == ["Generate", "History", "Consent", "Verify", "Models"]
    page = httpx.get(f"{open_app}/")
    assert page.status_code == 200
    assert "window.gradio_config" in page.text


def test_models_tab_handler_reports_the_models_folder(open_app: str,
                                                      service: SonicService) -> None:
    rows, summary = Client(open_app, verbose=False).predict(api_name="/models_status")
    assert str(service.settings.models_dir) in summary
    assert "13 of 13 files need attention" in summary
    assert [r[2] for r in rows["data"]] == ["missing"] * 13


def test_models_route_needs_a_user_when_users_are_configured(locked_app: str) -> None:
    url = f"{locked_app}/sonic/v1/models"
    denied = httpx.get(url)
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"] == 'Basic realm="sonic"'
    assert httpx.get(url, auth=("alice", "wrong")).status_code == 401
    assert httpx.get(url, auth=("mallory", "wonder:land")).status_code == 401
    allowed = httpx.get(url, auth=("alice", "wonder:land"))
    assert allowed.status_code == 200
    assert len(allowed.json()["files"]) == 13


def test_health_stays_open_for_probes_but_shows_setup_only_to_users(locked_app: str) -> None:
    url = f"{locked_app}/sonic/v1/health"
    for probe in (httpx.get(url), httpx.get(url, auth=("alice", "wrong"))):
        assert probe.status_code == 200
        assert probe.json() == {"status": "ok", "version": __version__}  # no paths, no setup
    user = httpx.get(url, auth=("alice", "wonder:land")).json()
    assert {"home", "models_dir", "database", "capabilities"} <= set(user)
    assert user["policy"] is None  # set to None, still reported


@pytest.mark.parametrize("origin", ["null", "http://localhost:8000", "http://127.0.0.1:9"])
def test_browsers_get_no_cross_origin_access_to_the_api(open_app: str, origin: str) -> None:
    # gradio's own CORS (mounted at /) answered the API's preflights, credentials allowed
    preflight = httpx.options(f"{open_app}/sonic/v1/generate", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-credentials" not in preflight.headers
    # a "simple" cross-origin request (no preflight) carrying the browser's cached Basic
    # credentials is refused too, before it reaches a route
    simple = httpx.get(f"{open_app}/sonic/v1/jobs", headers={"Origin": origin})
    assert simple.status_code == 403 and "--api-cors-origin" in simple.text
    same_origin = httpx.get(f"{open_app}/sonic/v1/health",  # the API itself still answers
                            headers={"Origin": open_app})
    assert same_origin.status_code == 200
    assert httpx.get(f"{open_app}/sonic/v1/health").status_code == 200  # programs: no Origin


def test_an_origin_the_operator_lists_gets_cors_without_cookies(service: SonicService) -> None:
    studio = "https://studio.example"
    app = create_app(service, ApiAuth(users={"alice": "wonder:land"}), cors_origins=[studio])
    with serve_in_thread(app) as base:
        preflight = httpx.options(f"{base}/sonic/v1/generate", headers={
            "Origin": studio, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == studio
        assert "access-control-allow-credentials" not in preflight.headers
        listed = httpx.get(f"{base}/sonic/v1/jobs", headers={"Origin": studio},
                           auth=("alice", "wonder:land"))
        assert listed.status_code == 200 and listed.json() == {"jobs": []}
        assert listed.headers["access-control-allow-origin"] == studio
        other = httpx.get(f"{base}/sonic/v1/jobs", headers={"Origin": "https://evil.example"},
                          auth=("alice", "wonder:land"))
        assert other.status_code == 403


def test_ui_requires_login_when_users_are_configured(locked_app: str) -> None:
    assert httpx.get(f"{locked_app}/config").status_code == 401
    with httpx.Client(base_url=locked_app) as client:
        login = client.post("/login", data={"username": "alice", "password": "wonder:land"})
        assert login.status_code == 200
        assert client.get("/config").status_code == 200


def test_ui_logins_are_throttled_after_repeated_failures(locked_app: str) -> None:
    with httpx.Client(base_url=locked_app) as client:
        for attempt in range(6):
            wrong = client.post("/login", data={"username": "alice", "password": f"x{attempt}"})
            assert wrong.status_code == 400
        right = client.post("/login", data={"username": "alice", "password": "wonder:land"})
        assert right.status_code == 400  # locked for the rest of the window


def test_cli_serve_starts_the_app_on_loopback(tmp_path: Path) -> None:
    users, token = tmp_path / "users.txt", tmp_path / "admin-token"
    users.write_text("alice:wonder:land\nbob:builder\n")
    token.write_text("s3cret\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sonic_ext", "--home", str(tmp_path / "home"), "serve",
         "--port", str(port), "--api-auth-file", str(users)],
        env={**{k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"},
             "SONIC_ADMIN_TOKEN_FILE": str(token)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{port}/sonic/v1"
    try:
        wait_until_up(f"{api}/health", process=process)
        # the secrets came from files: nothing in the process list gives them away
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert b"wonder" not in command_line and b"s3cret" not in command_line
        # the first consent call opens (and migrates) the registry: slow on a busy machine
        with httpx.Client(timeout=60, auth=("bob", "builder")) as client:
            health = client.get(f"{api}/health").json()
            assert health["home"] == str(tmp_path / "home")
            assert health["consent_admin"] == "enabled"  # the token file reached the settings
            assert client.get(f"{api}/consents").status_code == 403
            assert client.get(f"{api}/consents", headers={"X-Sonic-Admin-Token": "s3cret"}
                              ).json() == {"consents": []}
        assert httpx.get(f"{api}/consents", auth=("alice", "wrong")).status_code == 401
        # the UI's uploads land in the home's private cache, not in the shared /tmp/gradio
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as ui:
            ui.post("/login", data={"username": "bob", "password": "builder"})
            [uploaded] = ui.post("/upload", files={"files": ("face.png", b"x")}).json()
        cache = tmp_path / "home" / "cache" / "gradio"
        assert Path(uploaded).is_relative_to(cache)
        assert cache.stat().st_mode & 0o777 == 0o700
        # a second server on the same port: its own exit code, not 3 (consent refused)
        second = subprocess.run(
            [sys.executable, "-m", "sonic_ext", "--home", str(tmp_path / "home2"), "serve",
             "--port", str(port)], capture_output=True, text=True, timeout=120)
        assert second.returncode == 4, second.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "--port" in second.stderr
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in output
    assert (tmp_path / "home" / "logs" / "sonic.log").is_file()


@pytest.fixture
def two_users_app(service: SonicService) -> Iterator[str]:
    auth = ApiAuth(users={"alice": "wonder:land", "bob": "build:er"})
    with serve_in_thread(create_app(service, auth)) as base:
        yield base


def test_no_ui_user_reads_files_under_outputs_by_path(two_users_app: str,
                                                      service: SonicService) -> None:
    # gradio's /file= route served any file under outputs/ to any logged-in UI user: another
    # user's video, and through a symlink the registry database itself
    outputs = service.settings.outputs_dir
    alices = outputs / "job-of-alice.mp4"
    alices.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    link = outputs / "registry-link.mp4"
    link.symlink_to(service.settings.registry_path)
    with httpx.Client(base_url=two_users_app) as bob:
        assert bob.post("/login", data={"username": "bob", "password": "build:er"}) \
            .status_code == 200
        for path in (alices, link, outputs / ".sonic-publishing" / "x.mp4"):
            fetched = bob.get(f"/file={path}")
            assert fetched.status_code in (403, 404), path
            assert b"SQLite" not in fetched.content
        assert bob.get(f"/file={alices}").status_code == 403
