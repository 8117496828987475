"""Consent administered over HTTP drives the gate: enrol, generate, report, revoke, refused.

Tiny seeded weights stand in for the 8 GB model; the face identity, the registry, C2PA signing
and the watermark are the real ones.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx

from sonic_ext import SonicService
from tests.api.conftest import ADMIN, FACES, OPS, QA, Serve, make_service
from tests.conftest import consent_ids

PARAMS = '{"steps": 1, "min_resolution": 256, "seed": 0}'
SLOW = 120  # seconds: face detection and the gate run inside the request


def _generate(api: str, speech: Path, claims: tuple[str, ...] = (),
              face: str = "obama2.jpg") -> httpx.Response:
    with (FACES / face).open("rb") as image, speech.open("rb") as audio:
        return httpx.post(f"{api}/generate", auth=OPS, files={"image": image, "audio": audio},
                          data={"purpose": "education", "params": PARAMS,
                                "consent_id": list(claims)}, timeout=SLOW)


def _finished(api: str, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (job := httpx.get(f"{api}/jobs/{job_id}", auth=OPS).json())["state"] in ("queued",
                                                                                 "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    return job


def test_a_consent_enrolled_over_the_api_opens_the_gate_until_revoked(
        tmp_path: Path, tiny_models: Path, serve: Serve, speech: Path, evidence: Path) -> None:
    service = make_service(tmp_path / "home", tiny_models)
    with serve(service) as base:
        api = f"{base}/sonic/v1"
        unclaimed = _generate(api, speech)  # nothing to claim yet
        assert unclaimed.status_code == 422
        assert unclaimed.json()["detail"]["field"] == "consent_id"
        unknown = _generate(api, speech, ("con_0123456789ab",))
        assert unknown.status_code == 422, unknown.text
        assert "no consent with id" in unknown.json()["detail"]["message"]

        with (FACES / "obama.jpg").open("rb") as portrait, evidence.open("rb") as proof:
            enrolled = httpx.post(f"{api}/consents", auth=OPS, headers=ADMIN,
                                  data={"name": "Barack Obama", "purposes": ["education", "news"],
                                        "grantees": ["api:ops", "qa"],
                                        "expires": "2099-01-01T00:00:00Z"},
                                  files=[("portraits", portrait), ("evidence", proof)],
                                  timeout=SLOW)
        assert enrolled.status_code == 201, enrolled.text
        consent = enrolled.json()
        assert (consent["status"], consent["purposes"], consent["recorded_by"],
                consent["grantees"]) == ("active", ["education", "news"], "api:ops",
                                         ["api:ops", "qa"])
        assert consent["valid_until"] == "2099-01-01T00:00:00.000000Z"
        assert consent["evidence_sha256"] == hashlib.sha256(evidence.read_bytes()).hexdigest()
        assert "evidence_path" not in consent  # no server paths in answers
        listed = httpx.get(f"{api}/consents", auth=OPS, headers=ADMIN).json()["consents"]
        assert [c["id"] for c in listed] == [consent["id"]]
        details = httpx.get(f"{api}/consents/{consent['id']}", auth=OPS, headers=ADMIN).json()
        assert [e["action"] for e in details["history"]] == ["consent.add"]

        started = _generate(api, speech, (consent["id"],))
        assert started.status_code == 202, started.text
        job = _finished(api, started.json()["id"])
        assert job["state"] == "done", job
        assert job["result"]["consent_id"] == consent["id"]
        assert job["video_url"] == f"jobs/{job['id']}/video"
        assert "out" not in job["result"]
        assert httpx.get(f"{api}/jobs/{job['id']}", auth=QA).status_code == 404  # not theirs
        assert httpx.get(f"{api}/jobs", auth=QA).json() == {"jobs": []}
        assert [j["id"] for j in httpx.get(f"{api}/jobs", auth=OPS).json()["jobs"]] == [job["id"]]
        assert httpx.delete(f"{api}/jobs/{job['id']}", auth=OPS).status_code == 409

        report = httpx.get(f"{api}/{job['report_url']}", auth=OPS, timeout=SLOW)
        assert report.status_code == 200, report.text
        assert report.headers["content-type"].startswith("text/html")
        assert "Authentic" in report.text and job["result"]["watermark_id"] in report.text
        assert "Read from the file itself: <b>in-force</b>" in report.text
        assert httpx.get(f"{api}/{job['report_url']}", auth=QA).status_code == 404
        video = httpx.get(f"{api}/{job['video_url']}", auth=OPS)
        verified = httpx.post(f"{api}/verify", auth=OPS, timeout=SLOW,
                              files={"file": ("talk.mp4", video.content, "video/mp4")})
        assert verified.status_code == 200, verified.text
        assert (verified.json()["verdict"], verified.json()["path"]) == ("authentic", "talk.mp4")
        assert verified.json()["generation"]["consent_id"] == consent["id"]
        assert verified.json()["consent_check"]["verdict"] == "in-force"
        assert verified.json()["consent_check"]["consent_id"] == consent["id"]

        revoked = httpx.post(f"{api}/consents/{consent['id']}/revoke", auth=OPS, headers=ADMIN,
                             json={"reason": "withdrawn by e-mail"})
        assert revoked.status_code == 200, revoked.text
        assert (revoked.json()["status"], revoked.json()["revoked_by"]) == ("revoked", "api:ops")
        again = httpx.post(f"{api}/consents/{consent['id']}/revoke", auth=OPS, headers=ADMIN,
                           json={"reason": "twice"})
        assert again.status_code == 409 and again.json()["detail"]["code"] == "conflict"

        after = _generate(api, speech, (consent["id"],))
        assert after.status_code == 403, after.text
        assert after.json()["detail"]["code"] == "consent_refused"
        assert after.json()["detail"]["rule"] == "consent-revoked"
        assert "revoked" in after.json()["detail"]["message"]
        chain = httpx.get(f"{api}/audit/verify", auth=OPS, headers=ADMIN).json()
        # consent.add, gate.pass, the generation, consent.revoke, gate.refuse (a request without
        # a claim, or claiming an unknown id, is bad input: no decision, no event)
        assert chain["ok"] is True and chain["events_checked"] >= 5
        # the signed status list is open to anyone (bits only) and now has the revocation
        status = httpx.get(f"{api}/consent-status")
        assert status.status_code == 200
        assert status.headers["content-type"].startswith("application/vc+jwt")
        reverified = httpx.post(f"{api}/verify", auth=OPS, timeout=SLOW,
                                files={"file": ("talk.mp4", video.content, "video/mp4")})
        assert reverified.json()["consent_check"]["verdict"] == "revoked"
    assert len(list(service.settings.outputs_dir.glob("*.mp4"))) == 1


def test_a_job_cancelled_over_the_api_says_why_and_leaves_no_video(
        obama_consented: SonicService, serve: Serve, speech: Path) -> None:
    with serve(obama_consented) as base:
        api = f"{base}/sonic/v1"
        job = _generate(api, speech, consent_ids(obama_consented)).json()
        cancelled = httpx.delete(f"{api}/jobs/{job['id']}", auth=OPS)
        assert cancelled.status_code == 200
        job = _finished(api, job["id"])
        assert job["state"] == "cancelled"
        assert job["error"]["code"] == "cancelled"
        assert "through the API" in job["error"]["message"]
        assert httpx.get(f"{api}/jobs/{job['id']}/video", auth=OPS).status_code == 409
        assert httpx.delete(f"{api}/jobs/{job['id']}", auth=OPS).status_code == 409
    assert list(obama_consented.settings.outputs_dir.glob("*.mp4")) == []
