"""The consent commands and the gate through the command line, with the real dlib backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonic_ext import cli
from tests.conftest import write_tone_wav

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
    path = tmp_path / "release.txt"
    path.write_text("I agree to my likeness being animated for education. -- B.O.")
    return path


def test_enrol_list_show_revoke_and_verify_the_audit_log(sonic, evidence: Path) -> None:
    code, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                           str(FACES / "obama.jpg"), "--evidence", str(evidence),
                           "--purpose", "education")
    assert code == 0 and added["purposes"] == ["education"]
    code, listed, _ = sonic("consent", "list")
    assert [c["id"] for c in listed["consents"]] == [added["id"]]
    code, revoked, _ = sonic("consent", "revoke", added["id"], "--reason", "withdrawn by email")
    assert code == 0 and revoked["revoked_at"]
    code, shown, _ = sonic("consent", "show", added["id"])
    assert [e["action"] for e in shown["history"]][-1].endswith("revoke")
    code, audit, _ = sonic("consent", "audit-verify")
    assert code == 0 and audit["ok"] and audit["events_checked"] >= 2


def test_purpose_defaults_to_general_like_generate(sonic, evidence: Path) -> None:
    code, added, _ = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                           str(FACES / "obama.jpg"), "--evidence", str(evidence))
    assert code == 0 and added["purposes"] == ["general"]


def test_a_group_photo_cannot_enrol_one_person(sonic, evidence: Path) -> None:
    code, error, err = sonic("consent", "add", "--name", "Two People", "--portrait",
                             str(FACES / "obama_and_biden.jpg"), "--evidence", str(evidence))
    assert code == 2
    assert error["error"]["field"] == "--portrait"
    assert "face" in error["error"]["message"]


def test_generation_of_someone_without_consent_exits_3(sonic, evidence: Path,
                                                       tmp_path: Path) -> None:
    sonic("consent", "add", "--name", "Barack Obama", "--portrait", str(FACES / "obama.jpg"),
          "--evidence", str(evidence), "--purpose", "education")
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    code, error, err = sonic("generate", "--image", str(FACES / "biden.jpg"), "--audio",
                             str(speech), "--out", str(tmp_path / "out.mp4"),
                             "--purpose", "education")
    assert code == 3
    assert error["error"]["code"] == "consent_refused"
    assert "matches nobody with recorded consent" in error["error"]["message"]
    assert not (tmp_path / "out.mp4").exists()
    code, audit, _ = sonic("consent", "audit-verify")
    assert audit["ok"]
