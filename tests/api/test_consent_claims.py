"""Claims and grantees over HTTP: a generation names its consents, a consent names who may use
it; any API user lists what is granted to them and dry-runs the gate; admins amend and renew.

Only `test_amendments_supersede_and_a_renewal_reopens_the_gate` needs (tiny) weights, for the
one generation it starts; every other request is decided by the gate or refused before it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.api import consent as consent_routes
from tests.api.conftest import ADMIN, FACES, OPS, Serve, make_service
from tests.evidence import write_release_pdf

SLOW = 120  # seconds: face detection runs inside the request
ALICE, BOB = ("alice", "pw-alice"), ("bob", "pw-bob")
PEOPLE = dict([ALICE, BOB, OPS])


def _enrol(api: str, evidence: Path, grantees: list[str] | None, **fields: Any
           ) -> httpx.Response:
    data = {"name": "Barack Obama", "purposes": ["education", "news"], **fields}
    if grantees is not None:
        data["grantees"] = grantees
    with (FACES / "obama.jpg").open("rb") as portrait, evidence.open("rb") as proof:
        return httpx.post(f"{api}/consents", auth=OPS, headers=ADMIN, data=data,
                          files=[("portraits", portrait),
                                 ("evidence", ("release.pdf", proof, "application/pdf"))],
                          timeout=SLOW)


def _check(api: str, auth: tuple[str, str], claims: list[str] | str | None,
           purpose: str = "education", face: str = "obama2.jpg") -> httpx.Response:
    data: dict[str, Any] = {"purpose": purpose, "params": '{"min_resolution": 256}'}
    if claims is not None:
        data["consent_id"] = claims
    with (FACES / face).open("rb") as image:
        return httpx.post(f"{api}/consents/check", auth=auth, data=data,
                          files={"image": image}, timeout=SLOW)


def _generate(api: str, speech: Path, auth: tuple[str, str], claims: list[str] | str | None,
              purpose: str = "education") -> httpx.Response:
    data: dict[str, Any] = {"purpose": purpose,
                            "params": '{"steps": 1, "min_resolution": 256, "seed": 0}'}
    if claims is not None:
        data["consent_id"] = claims
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        return httpx.post(f"{api}/generate", auth=auth, data=data,
                          files={"image": image, "audio": audio}, timeout=SLOW)


def _events(api: str) -> int:
    chain = httpx.get(f"{api}/audit/verify", auth=OPS, headers=ADMIN).json()
    assert chain["ok"] is True, chain
    return int(chain["events_checked"])


def _refusal(response: httpx.Response, rule: str) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert (detail["code"], detail["rule"]) == ("consent_refused", rule), detail
    return dict(detail)


def test_generate_without_a_consent_id_is_422(admin_api: str, speech: Path,
                                              admin_service: SonicService) -> None:
    for claims in (None, "", " , "):
        response = _generate(admin_api, speech, OPS, claims)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert (detail["code"], detail["field"]) == ("bad_input", "consent_id")
        assert "one per person shown" in detail["message"]
        assert "consent_id" in detail["hint"]
    assert httpx.get(f"{admin_api}/jobs", auth=OPS).json() == {"jobs": []}
    assert list((admin_service.settings.home / "uploads").iterdir()) == []


def test_a_consent_needs_its_grantees_named(admin_api: str, evidence: Path,
                                            admin_service: SonicService) -> None:
    for grantees in (None, [""], [" , "]):  # `any` only when it is given
        response = _enrol(admin_api, evidence, grantees)
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["field"] == "grantees"
        assert "name who may use this consent" in response.json()["detail"]["message"]
    bad = _enrol(admin_api, evidence, ["ops", "not a user!"])
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "grantees"
    assert admin_service.list_consents() == []


def test_granted_consents_and_the_gate_dry_run_are_per_user(
        tmp_path: Path, serve: Serve, evidence: Path, speech: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service = make_service(tmp_path / "home")
    folders: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def recorded_mkdtemp(*args: Any, **kwargs: Any) -> str:
        folders.append(Path(mkdtemp(*args, **kwargs)))
        return str(folders[-1])

    monkeypatch.setattr(consent_routes.tempfile, "mkdtemp", recorded_mkdtemp)
    with serve(service, users=PEOPLE) as base:
        api = f"{base}/sonic/v1"
        enrolled = _enrol(api, evidence, ["api:alice"])
        assert enrolled.status_code == 201, enrolled.text
        consent = enrolled.json()
        assert (consent["grantees"], consent["supersedes"], consent["superseded_by"],
                consent["evidence_media_type"]) == (["api:alice"], None, None,
                                                    "application/pdf")

        # the listing: alice sees her consent, in the small view; bob sees nothing
        assert httpx.get(f"{api}/consents/granted").status_code == 401
        granted = httpx.get(f"{api}/consents/granted", auth=ALICE)  # no admin token needed
        assert granted.status_code == 200, granted.text
        assert granted.json() == {"consents": [{
            key: consent[key] for key in ("id", "subject_name", "purposes", "valid_from",
                                          "valid_until", "status")}]}
        assert httpx.get(f"{api}/consents/granted", auth=BOB).json() == {"consents": []}
        assert httpx.get(f"{api}/consents/{consent['id']}", auth=ALICE).status_code == 403

        # the dry run passes for alice, and is audited like a generation's check
        events = _events(api)
        passed = _check(api, ALICE, consent["id"])
        assert passed.status_code == 200, passed.text
        decision = passed.json()["decision"]
        assert passed.json()["passed"] is decision["passed"] is True
        assert (decision["actor"], decision["consent_id"], decision["claims"],
                decision["subject_name"]) == ("api:alice", consent["id"], [consent["id"]],
                                              "Barack Obama")
        assert decision["framing"]["min_resolution"] == 256  # the params were used
        assert _events(api) == events + 1
        history = httpx.get(f"{api}/consents/{consent['id']}", auth=OPS,
                            headers=ADMIN).json()["history"]
        audited = [e for e in history if e["seq"] == decision["audit_seq"]]
        assert [e["action"] for e in audited] == ["gate.pass"]
        assert audited[0]["payload"] == {k: v for k, v in decision.items()
                                         if k not in ("audit_seq", "audit_hash",
                                                      "audit_checkpoint")}

        # bob may not use it: the check and a generation are refused, with the decision
        refused = _refusal(_check(api, BOB, [consent["id"]]), "not-granted")
        assert "not granted to api:bob" in refused["message"]
        assert refused["decision"]["passed"] is False
        assert (refused["decision"]["rule"], refused["decision"]["actor"],
                refused["decision"]["audit_seq"]) == ("not-granted", "api:bob",
                                                      refused["audit_seq"])
        assert _events(api) == events + 2
        generated = _refusal(_generate(api, speech, BOB, consent["id"]), "not-granted")
        assert generated["audit_seq"] == refused["audit_seq"] + 1
        assert httpx.get(f"{api}/jobs", auth=BOB).json() == {"jobs": []}

        # other refusals and bad input
        wrong = _refusal(_check(api, ALICE, consent["id"], purpose="marketing"),
                         "purpose-not-covered")
        assert wrong["decision"]["purpose"] == "marketing"
        for claims, field in ((None, "consent_id"), ("con_nope", "consent_id")):
            bad = _check(api, ALICE, claims)
            assert bad.status_code == 422, bad.text
            assert bad.json()["detail"]["field"] == field
        steps = httpx.post(f"{api}/consents/check", auth=ALICE, timeout=SLOW,
                           data={"consent_id": consent["id"], "params": '{"steps": 0}'},
                           files={"image": (FACES / "obama2.jpg").read_bytes()})
        assert steps.status_code == 422 and steps.json()["detail"]["field"] == "steps"
    checks = [f for f in folders if f.name.startswith("sonic-check-")]
    assert len(checks) == 6 and not any(f.exists() for f in folders)  # uploads went with them
    assert list(service.settings.outputs_dir.iterdir()) == []


def test_amendments_supersede_and_a_renewal_reopens_the_gate(
        tmp_path: Path, tiny_models: Path, serve: Serve, evidence: Path, speech: Path) -> None:
    service = make_service(tmp_path / "home", tiny_models)
    with serve(service) as base:
        api = f"{base}/sonic/v1"
        enrolled = _enrol(api, evidence, ["any"], expires="2099-01-01")
        assert enrolled.status_code == 201, enrolled.text
        first = enrolled.json()

        def amend(consent_id: str, proof: Path | None = None, **fields: Any) -> httpx.Response:
            files = ([("evidence", ("amendment.pdf", proof.read_bytes(), "application/pdf"))]
                     if proof else [])
            return httpx.post(f"{api}/consents/{consent_id}/amend", auth=OPS, headers=ADMIN,
                              data=fields, files=files or None)

        assert httpx.post(f"{api}/consents/{first['id']}/amend", auth=OPS,
                          data={"purposes": "education"}).status_code == 403  # admins only
        for fields, words in (({"purposes": ["education", "news", "ads"]}, "purposes ads"),
                              ({"expires": "none"}, "a later end"),
                              ({"grantees": "any", "expires": "2100-01-01"}, "a later end")):
            widened = amend(first["id"], **fields)
            assert widened.status_code == 422, widened.text
            assert widened.json()["detail"]["field"] == "evidence"
            assert words in widened.json()["detail"]["message"]
        same = amend(first["id"], purposes="news,education", grantees="any")
        assert same.status_code == 422 and "changes nothing" in same.json()["detail"]["message"]
        assert amend(first["id"], expires="someday").json()["detail"]["field"] == "expires"
        assert amend("con_nope", purposes="education").status_code == 404

        # narrowing: a new consent replaces the old one, which no generation may claim now
        narrowed = amend(first["id"], purposes="education")
        assert narrowed.status_code == 201, narrowed.text
        second = narrowed.json()
        assert (second["purposes"], second["supersedes"], second["subject_id"],
                second["evidence_sha256"], second["valid_until"], second["status"]) == \
            (["education"], first["id"], first["subject_id"], first["evidence_sha256"],
             first["valid_until"], "active")
        old = httpx.get(f"{api}/consents/{first['id']}", auth=OPS, headers=ADMIN).json()
        assert (old["status"], old["superseded_by"]) == ("superseded", second["id"])
        assert "consent.amend" in [e["action"] for e in old["history"]]
        refused = _refusal(_generate(api, speech, OPS, first["id"]), "consent-superseded")
        assert second["id"] in refused["message"] and second["id"] in refused["hint"]
        again = amend(first["id"], purposes="education")
        assert again.status_code == 409 and again.json()["detail"]["code"] == "conflict"

        # widening with new evidence; grantees narrowed to ops on the API
        proof = write_release_pdf(tmp_path / "amendment.pdf", "Amendment: I also agree to "
                                  "news videos, with no end date. Signed by the person shown.")
        widened = amend(second["id"], proof, purposes=["education", "news"], expires="none",
                        grantees="api:ops")
        assert widened.status_code == 201, widened.text
        third = widened.json()
        assert (third["purposes"], third["valid_until"], third["grantees"],
                third["supersedes"]) == (["education", "news"], None, ["api:ops"], second["id"])
        assert third["evidence_sha256"] != first["evidence_sha256"]
        granted = httpx.get(f"{api}/consents/granted", auth=OPS).json()["consents"]
        assert [c["id"] for c in granted] == [third["id"]]

        # revoked, then renewed for the same person: the renewal opens the gate again
        revoked = httpx.post(f"{api}/consents/{third['id']}/revoke", auth=OPS, headers=ADMIN,
                             json={"reason": "withdrawn by e-mail"})
        assert revoked.status_code == 200, revoked.text
        assert amend(third["id"], purposes="education").status_code == 409
        _refusal(_generate(api, speech, OPS, third["id"]), "consent-revoked")
        twice = _enrol(api, evidence, ["any"])  # the same face under a new subject: refused
        assert twice.status_code == 422 and first["subject_id"] in twice.json()["detail"]["hint"]
        renewal = _enrol(api, write_release_pdf(tmp_path / "renewal.pdf", "Renewal: I agree "
                                                "again, for education. Signed by the person."),
                         ["ops"], name="", purposes="education", subject_id=first["subject_id"])
        assert renewal.status_code == 201, renewal.text
        renewed = renewal.json()
        assert (renewed["subject_id"], renewed["subject_name"], renewed["grantees"],
                renewed["status"], renewed["supersedes"]) == \
            (first["subject_id"], "Barack Obama", ["ops"], "active", None)

        started = _generate(api, speech, OPS, f" {renewed['id']} ,")  # a comma list too
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert httpx.delete(f"{api}/jobs/{job_id}", auth=OPS).status_code == 200
        deadline = time.monotonic() + 300
        while (job := httpx.get(f"{api}/jobs/{job_id}", auth=OPS).json())["state"] in (
                "queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["state"] in ("cancelled", "done"), job
        statuses = {c["id"]: c["status"] for c in httpx.get(
            f"{api}/consents", auth=OPS, headers=ADMIN).json()["consents"]}
        assert statuses == {first["id"]: "superseded", second["id"]: "superseded",
                            third["id"]: "revoked", renewed["id"]: "active"}
