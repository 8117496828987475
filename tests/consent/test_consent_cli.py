"""The consent commands and the gate through the command line, with the real dlib backend."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sonic_ext.adapters import cli
from tests.conftest import write_tone_wav
from tests.evidence import write_release_pdf
from tests.group_photo import group_photo

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture
def sonic(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    home = tmp_path / "home"

    def run(*args: str) -> tuple[int, dict, str]:
        code = cli.main(["--home", str(home), *args, "--json"])
        captured = capsys.readouterr()
        return code, json.loads(captured.out), captured.err

    return run


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    return write_release_pdf(tmp_path / "release.pdf",
                             "I agree to my likeness being animated for education. -- B.O.")


def test_enrol_list_show_revoke_and_verify_the_audit_log(sonic, evidence: Path) -> None:
    code, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                           str(FACES / "obama.jpg"), "--evidence", str(evidence),
                           "--purpose", "education", "--grantee", "any")
    assert code == 0 and added["purposes"] == ["education"] and added["grantees"] == ["any"]
    code, listed, _ = sonic("consent", "list")
    assert [c["id"] for c in listed["consents"]] == [added["id"]]
    code, revoked, _ = sonic("consent", "revoke", added["id"], "--reason", "withdrawn by email")
    assert code == 0 and revoked["revoked_at"]
    code, shown, _ = sonic("consent", "show", added["id"])
    assert [e["action"] for e in shown["history"]][-1].endswith("revoke")
    code, audit, _ = sonic("consent", "audit-verify")
    assert code == 0 and audit["ok"] and audit["events_checked"] >= 2


def test_audit_verify_names_an_undone_revocation_and_checks_exported_anchors(
        sonic, evidence: Path, tmp_path: Path) -> None:
    code, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                           str(FACES / "obama.jpg"), "--evidence", str(evidence),
                           "--purpose", "education", "--grantee", "any")
    sonic("consent", "revoke", added["id"], "--reason", "withdrawn")
    code, exported, _ = sonic("consent", "audit-export", "--out", str(tmp_path / "off-site"))
    assert code == 0 and exported["checkpoints"] == exported["latest_size"] == 2
    assert (tmp_path / "off-site" / "consent-key.pub.pem").read_bytes().startswith(
        b"-----BEGIN PUBLIC KEY-----")
    anchor = str(tmp_path / "off-site" / "checkpoint.txt")
    code, audit, _ = sonic("consent", "audit-verify", "--anchor", anchor)
    assert code == 0 and audit["ok"] and audit["anchors_checked"] == 2  # + the home's file
    with sqlite3.connect(tmp_path / "home" / "registry.db", isolation_level=None) as db:
        db.execute("UPDATE consents SET revoked_at = NULL")
    code, audit, _ = sonic("consent", "audit-verify", "--anchor", anchor)
    assert code == 1 and not audit["ok"]
    assert audit["problems"] == [f"consent {added['id']} is not as the consent key signed it: "
                                 "it was inserted or edited outside the registry (e.g. a "
                                 "revocation undone)"]
    code, adopted, _ = sonic("consent", "adopt-unsigned")
    assert code == 0 and adopted == {"subjects": [], "consents": [], "references": [],
                                     "left_unsigned": []}  # signed rows are never re-signed
    code, error, _ = sonic("consent", "audit-verify", "--anchor", str(evidence))
    assert code == 2 and "neither a checkpoint nor a video of ours" in error["error"]["message"]


def test_purpose_defaults_to_general_like_generate(sonic, evidence: Path) -> None:
    code, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                           str(FACES / "obama.jpg"), "--evidence", str(evidence),
                           "--grantee", "alice")
    assert code == 0 and added["purposes"] == ["general"]


def test_a_group_photo_cannot_enrol_one_person(sonic, evidence: Path, tmp_path: Path) -> None:
    group = group_photo(tmp_path / "group.jpg")
    code, error, err = sonic("consent", "add", "--name", "Two People", "--portrait",
                             str(group), "--evidence", str(evidence),
                             "--grantee", "any")
    assert code == 2
    assert error["error"]["field"] == "--portrait"
    assert "face" in error["error"]["message"]


def test_generation_of_someone_without_consent_exits_3(sonic, evidence: Path,
                                                       tmp_path: Path) -> None:
    _, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                        str(FACES / "obama.jpg"), "--evidence", str(evidence), "--purpose",
                        "education", "--grantee", "any")
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    generate = ("generate", "--image", str(FACES / "biden.jpg"), "--audio", str(speech),
                "--out", str(tmp_path / "out.mp4"), "--purpose", "education")
    code, error, err = sonic(*generate)
    assert code == 2 and "--consent" in error["error"]["message"]  # no claim: bad usage
    code, error, err = sonic(*generate, "--consent", added["id"])
    assert code == 3
    assert error["error"]["code"] == "consent_refused"
    assert "is not Barack Obama" in error["error"]["message"]
    assert not (tmp_path / "out.mp4").exists()
    code, audit, _ = sonic("consent", "audit-verify")
    assert audit["ok"]


def test_consent_check_is_a_dry_run_of_the_gate(sonic, evidence: Path) -> None:
    _, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                        str(FACES / "obama.jpg"), "--evidence", str(evidence), "--purpose",
                        "education", "--grantee", "cli:nobody-here")
    check = ("consent", "check", "--image", str(FACES / "obama2.jpg"), "--consent", added["id"],
             "--purpose", "education")
    code, refused, _ = sonic(*check)
    assert code == 3 and refused["rule"] == "not-granted" and not refused["passed"]
    code, amended, _ = sonic("consent", "amend", added["id"], "--grantee", "any")
    assert code == 2  # widening the grantees needs new evidence
    code, amended, _ = sonic("consent", "amend", added["id"], "--grantee", "any",
                             "--evidence", str(evidence))
    assert code == 0 and amended["supersedes"] == added["id"]
    code, decision, _ = sonic(*check[:-4], "--consent", amended["id"], "--purpose", "education")
    assert code == 0 and decision["passed"] and decision["consent_ids"] == [amended["id"]]
    assert decision["faces"][0]["similarity"] > decision["threshold"]
    code, biden, _ = sonic("consent", "check", "--image", str(FACES / "biden.jpg"),
                           "--consent", amended["id"], "--purpose", "education")
    assert code == 3 and biden["rule"] == "unknown-face"
    code, shown, _ = sonic("consent", "show", amended["id"])
    actions = [e["action"] for e in shown["history"]]
    assert actions[:2] == ["consent.add", "gate.refuse"] and "consent.amend" in actions
    assert actions.count("gate.pass") == 1  # every dry run is audited


def test_renewal_for_an_enrolled_subject(sonic, evidence: Path) -> None:
    add = ("consent", "add", "--portrait", str(FACES / "obama.jpg"), "--evidence",
           str(evidence), "--grantee", "any")
    _, first, _ = sonic(*add, "--name", "Barack Obama")
    sonic("consent", "revoke", first["id"], "--reason", "contract ended")
    code, error, _ = sonic(*add, "--name", "Barack Obama")
    assert code == 2 and f"--subject {first['subject_id']}" in error["error"]["hint"]
    code, renewed, _ = sonic(*add, "--subject", first["subject_id"])
    assert code == 0 and renewed["subject_name"] == "Barack Obama"
    assert renewed["subject_id"] == first["subject_id"] and renewed["status"] == "active"
