"""Who may call what, and what is refused before anything is stored: 401, 403, 404, 413, 422.

No weights are needed here: every request is refused (or answered) before a generation starts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.api import consent as consent_routes
from sonic_ext.adapters.api.auth import ApiAuth, LoginThrottle
from sonic_ext.contracts import GenerationParams
from tests.api.conftest import ADMIN, FACES, OPS, USERS, Serve, make_service


def _consent_form(evidence: Path, **fields: str) -> dict:
    data = {"name": "Barack Obama", "purposes": "education", "grantees": "any", **fields}
    files = [("portraits", ("obama.jpg", (FACES / "obama.jpg").read_bytes(), "image/jpeg")),
             ("evidence", ("release.pdf", evidence.read_bytes(), "application/pdf"))]
    return {"data": data, "files": files}


def _temp_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("sonic-consent-*")}


def test_consent_routes_need_a_user_and_then_the_admin_token(admin_api: str,
                                                             evidence: Path) -> None:
    url = f"{admin_api}/consents"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=("ops", "wrong")).status_code == 401
    assert httpx.get(url, headers=ADMIN).status_code == 401  # the token is no user
    assert httpx.post(url, headers=ADMIN, **_consent_form(evidence)).status_code == 401

    for headers in ({}, {"X-Sonic-Admin-Token": "guess"}, {"X-Sonic-Admin-Token": ""}):
        refused = httpx.get(url, auth=OPS, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["detail"]["code"] == "admin_required"
        assert refused.json()["detail"]["message"] == ("a valid admin token is required for "
                                                       "consent changes")
    assert httpx.post(url, auth=OPS, **_consent_form(evidence)).status_code == 403
    assert httpx.post(f"{url}/con_0/revoke", auth=OPS, json={"reason": "x"}).status_code == 403
    assert httpx.post(f"{url}/con_0/amend", auth=OPS, data={"purposes": "x"}).status_code == 403
    assert httpx.get(f"{admin_api}/audit/verify", auth=OPS).status_code == 403

    assert httpx.get(url, auth=OPS, headers=ADMIN).json() == {"consents": []}
    chain = httpx.get(f"{admin_api}/audit/verify", auth=OPS, headers=ADMIN)
    assert chain.status_code == 200 and chain.json()["ok"] is True


def test_without_a_configured_admin_token_consent_changes_are_refused(
        tmp_path: Path, serve: Serve, evidence: Path) -> None:
    service = make_service(tmp_path / "home", admin_token=None)
    with serve(service) as base:
        for headers in ({}, ADMIN):
            refused = httpx.post(f"{base}/sonic/v1/consents", auth=OPS, headers=headers,
                                 **_consent_form(evidence))
            assert refused.status_code == 403
            detail = refused.json()["detail"]
            assert detail["code"] == "admin_required"
            assert "no admin token is configured" in detail["message"]
            assert "--admin-token" in detail["hint"]
    assert service.list_consents() == []


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"purposes": "edu cation!"}, "purposes", "is not a label"),
    ({"purposes": " , "}, "purposes", "at least one purpose"),
    ({"expires": "next tuesday"}, "expires", "not an ISO 8601"),
    ({"expires": "2001-01-01"}, "expires", "is not in the future"),
    ({"name": "  "}, "name", "must not be empty"),
    ({"grantees": " , "}, "grantees", "name who may use this consent"),
    ({"grantees": "ops,every one"}, "grantees", "is not a grantee"),
])
def test_bad_consent_fields_are_422_naming_the_field(admin_api: str, evidence: Path,
                                                     admin_service: SonicService,
                                                     fields: dict[str, str], field: str,
                                                     words: str) -> None:
    before = _temp_folders()
    response = httpx.post(f"{admin_api}/consents", auth=OPS, headers=ADMIN,
                          **_consent_form(evidence, **fields))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == field
    assert words in response.json()["detail"]["message"]
    assert admin_service.list_consents() == []
    assert list(admin_service.settings.evidence_dir.iterdir()) == []
    assert _temp_folders() == before  # the uploads went with the request


def test_oversize_uploads_and_bodies_are_413(admin_api: str, evidence: Path,
                                             admin_service: SonicService,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consent_routes, "MAX_IMAGE_BYTES", 1000)
    big_portrait = httpx.post(f"{admin_api}/consents", auth=OPS, headers=ADMIN,
                              **_consent_form(evidence))
    assert big_portrait.status_code == 413
    assert big_portrait.json()["detail"]["field"] == "portraits"
    monkeypatch.undo()
    monkeypatch.setattr(consent_routes, "MAX_EVIDENCE_BYTES", 10)
    big_evidence = httpx.post(f"{admin_api}/consents", auth=OPS, headers=ADMIN,
                              **_consent_form(evidence))
    assert big_evidence.status_code == 413
    assert big_evidence.json()["detail"]["field"] == "evidence"
    assert admin_service.list_consents() == []

    reason = {"reason": "x" * 100_000}  # over the 64 KiB of a route without uploads
    declared = httpx.post(f"{admin_api}/consents/con_0/revoke", auth=OPS, headers=ADMIN,
                          json=reason)
    assert declared.status_code == 413
    assert declared.json()["detail"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"reason": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    streamed = httpx.post(f"{admin_api}/consents/con_0/revoke", auth=OPS,
                          headers={**ADMIN, "Content-Type": "application/json"},
                          content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["detail"]["message"] == "request body over 65,536 bytes"


def test_unknown_jobs_and_consents_are_404(admin_api: str) -> None:
    for method, path in [("GET", "/jobs/0123456789abcdef"), ("DELETE", "/jobs/0123456789abcdef"),
                         ("GET", "/jobs/nope/video"),
                         ("GET", "/jobs/nope/report")]:
        response = httpx.request(method, f"{admin_api}{path}", auth=OPS)
        assert response.status_code == 404, (method, path)
    assert httpx.get(f"{admin_api}/jobs/nope", auth=OPS).json()["detail"]["code"] == "not_found"
    assert httpx.get(f"{admin_api}/jobs", auth=OPS).json() == {"jobs": []}
    missing = httpx.get(f"{admin_api}/consents/con_nope", auth=OPS, headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "not_found"
    revoke = httpx.post(f"{admin_api}/consents/con_nope/revoke", auth=OPS, headers=ADMIN,
                        json={"reason": "gone"})
    assert revoke.status_code == 404


@pytest.mark.parametrize(("form", "field"), [
    ({"purpose": "no way!"}, "purpose"),
    ({"params": '{"steps": 0}'}, "steps"),
    ({"params": '{"min_resolution": 300}'}, "min_resolution"),
    ({"params": '{"stepz": 3}'}, "params"),
    ({"params": "[1, 2]"}, "params"),
    ({"params": "{steps: 3"}, "params"),
    ({"params": '{"seed": ' + "[" * 50_000 + "]" * 50_000 + "}"}, "params"),
])
def test_bad_generation_input_is_422_and_queues_nothing(admin_api: str, speech: Path,
                                                        admin_service: SonicService,
                                                        form: dict[str, str], field: str
                                                        ) -> None:
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        response = httpx.post(f"{admin_api}/generate", auth=OPS,
                              data={"consent_id": "con_0", **form},
                              files={"image": image, "audio": audio})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == field
    assert httpx.get(f"{admin_api}/jobs", auth=OPS).json() == {"jobs": []}
    assert list((admin_service.settings.home / "uploads").iterdir()) == []


def test_a_json_body_nested_too_deep_is_422(admin_api: str) -> None:
    body = '{"reason": ' + "[" * 20_000 + "]" * 20_000 + "}"
    response = httpx.post(f"{admin_api}/consents/con_0/revoke", auth=OPS, headers={
        **ADMIN, "content-type": "application/json"}, content=body)
    assert response.status_code == 422, response.text
    assert "nested" in response.text


def test_a_registry_locked_by_another_writer_is_503_with_retry_after(
        serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from sonic_ext.consent import database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.5)  # not a minute, in a test
    service = make_service(tmp_path / "home")
    service.list_consents()  # the registry exists, migrated
    holder = sqlite3.connect(service.settings.registry_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with serve(service) as base:
            response = httpx.post(f"{base}/sonic/v1/consents/con_0/revoke", auth=OPS,
                                  headers=ADMIN, json={"reason": "gone"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "30"
    assert response.json()["detail"]["code"] == "registry_busy"


def test_a_request_without_credentials_is_refused_before_its_body_is_read(
        admin_service: SonicService) -> None:
    import asyncio

    from tests.api.router_app import router_app

    app = router_app(admin_service, ApiAuth(users={"ops": "pw"}))
    chunk, chunks = b"\0" * (1 << 20), 150  # 150 MB offered, one megabyte at a time
    pulled, sent = [], []

    async def receive() -> dict:
        pulled.append(1)
        return {"type": "http.request", "body": chunk, "more_body": len(pulled) < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/sonic/v1/generate", "raw_path":
             b"/sonic/v1/generate", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"multipart/form-data; boundary=x"),
                         (b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    loop = asyncio.new_event_loop()  # not asyncio.run: it would leave this thread without
    try:                              # an event loop, and gradio apps built later need one
        loop.run_until_complete(app(scope, receive, send))
    finally:
        loop.close()
    assert sent[0]["status"] == 401
    assert len(pulled) == 0  # not one megabyte read for a caller who is nobody


def test_errors_sent_to_clients_name_files_not_server_paths(admin_api: str, speech: Path,
                                                           admin_service: SonicService) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + bytes(200)  # a PNG signature, then nothing readable
    response = httpx.post(f"{admin_api}/generate", auth=OPS, data={"consent_id": "con_0"},
                          files={"image": ("me.png", broken, "image/png"),
                                 "audio": ("speech.wav", speech.read_bytes(), "audio/wav")})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["field"] == "image" and "portrait.png" in detail["message"]
    assert str(admin_service.settings.home) not in response.text
    assert "/uploads/" not in response.text


def test_failed_logins_are_throttled_per_user_and_address(admin_api: str) -> None:
    url = f"{admin_api}/jobs"
    answers = [httpx.get(url, auth=("ops", f"guess{i}")).status_code for i in range(8)]
    assert answers == [401] * 5 + [429] * 3  # not 50 guesses in 0.6 s any more
    locked = httpx.get(url, auth=OPS)  # the right password too, while the lock holds
    assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 60
    assert httpx.get(url, auth=("qa", USERS["qa"])).status_code == 200  # another user is not


def test_a_throttled_login_may_try_again_after_the_window() -> None:
    now = [0.0]
    auth = ApiAuth(users={"ops": "pw"}, throttle=LoginThrottle(clock=lambda: now[0]))
    for _ in range(LoginThrottle.MAX_FAILURES):
        assert not auth.ui_login("ops", "wrong")
    assert not auth.ui_login("ops", "pw")  # throttled
    now[0] += LoginThrottle.WINDOW_S
    assert auth.ui_login("ops", "pw")


def test_params_lists_every_parameter_with_its_default(admin_api: str) -> None:
    assert httpx.get(f"{admin_api}/params").status_code == 401
    params = httpx.get(f"{admin_api}/params", auth=OPS)
    assert params.status_code == 200
    assert params.json() == GenerationParams().to_dict()


def test_presets_lists_each_with_its_full_parameters(admin_api: str) -> None:
    assert httpx.get(f"{admin_api}/presets").status_code == 401
    presets = httpx.get(f"{admin_api}/presets", auth=OPS).json()
    assert list(presets) == ["fast", "standard", "quality"]
    assert presets["standard"] == GenerationParams().to_dict()
    assert presets["fast"] == {**GenerationParams().to_dict(), "steps": 10, "interpolate": False}
    assert presets["quality"]["min_resolution"] == 1024
