"""POST /batches: one request, many items, each through the consent gate and signed on its own;
a refused or bad item is reported at once and the rest go on; GET /batches/{id} follows them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sonic_ext import SonicService
from tests.api.conftest import OPS, QA, Serve
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
QUICK = {"steps": 1, "min_resolution": 256, "interpolate": False, "seed": 0}


def upload(*paths: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (path.name, path.read_bytes())) for path in paths]


def followed(base: str, batch: dict[str, Any], timeout_s: float = 240) -> dict[str, Any]:
    """The batch once none of its items is queued or running."""
    deadline = time.monotonic() + timeout_s
    while True:
        batch = httpx.get(f"{base}/{batch['status_url']}", auth=OPS).json()
        if not {"queued", "running"} & {item["state"] for item in batch["items"]}:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.5)


def test_consented_items_are_signed_and_the_others_reported(
        serve: Serve, obama_consented: SonicService, tmp_path: Path) -> None:
    speech = write_tone_wav(tmp_path / "lesson.wav", seconds=1.5)
    [consent] = consent_ids(obama_consented)
    items = [{"portrait": "obama2.jpg", "audio": "lesson.wav"},
             {"portrait": "biden.jpg", "audio": "lesson.wav"},  # not Obama: the gate refuses
             {"portrait": "obama2.jpg", "audio": "lesson.wav", "params": {"steps": 0}}]
    with serve(obama_consented) as root:
        base = f"{root}/sonic/v1"
        answer = httpx.post(f"{base}/batches", auth=OPS, timeout=60,
                            files=upload(FACES / "obama2.jpg", FACES / "biden.jpg", speech),
                            data={"items": json.dumps(items), "purpose": "education",
                                  "consent_id": consent, "params": json.dumps(QUICK)})
        assert answer.status_code == 202, answer.text
        sent = answer.json()
        assert [item["state"] for item in sent["items"]][1:] == ["refused", "failed"]
        assert sent["items"][0]["state"] in ("queued", "running")  # the worker may have begun
        assert sent["items"][1]["error"]["code"] == "consent_refused"
        assert "steps: must be between 1 and 100" in sent["items"][2]["error"]["message"]
        batch = followed(base, sent)
        assert batch["counts"]["done"] == 1 and batch["counts"]["refused"] == 1
        job = batch["items"][0]["job"]
        assert job["result"]["consent_id"] == consent and len(job["result"]["sha256"]) == 64
        video = httpx.get(f"{base}/{job['video_url']}", auth=OPS)
        assert video.status_code == 200
        got = tmp_path / "got.mp4"
        got.write_bytes(video.content)
        assert obama_consented.verify(got).verdict == "authentic"
        # exactly the consented output exists, and only its owner sees the batch
        assert [p.name for p in obama_consented.settings.outputs_dir.glob("*.mp4")] == [
            f"{job['id']}.mp4"]
        assert httpx.get(f"{base}/{sent['status_url']}", auth=QA).status_code == 404
        assert httpx.get(f"{base}/batches/..%2Fjobs", auth=OPS).status_code == 404


@pytest.mark.parametrize(("items", "files", "message"), [
    ("[]", ["obama2.jpg"], "items: must be a list of 1 to 50 items"),
    ('[{"portrait": "obama2.jpg"}]', ["obama2.jpg"], "items[0].audio: must name an uploaded"),
    ('[{"portrait": "obama2.jpg", "audio": "x.wav", "seed": 1}]', ["obama2.jpg"],
     "items[0]: unknown field 'seed'"),
    ('[{"portrait": "obama2.jpg", "audio": "lesson.wav"}]', ["obama2.jpg"],
     "items[0].audio: no uploaded file is named 'lesson.wav'"),
])
def test_a_malformed_batch_is_refused_whole_and_queues_nothing(
        serve: Serve, obama_consented: SonicService, items: str, files: list[str],
        message: str) -> None:
    with serve(obama_consented) as root:
        base = f"{root}/sonic/v1"
        answer = httpx.post(f"{base}/batches", auth=OPS, data={"items": items},
                            files=upload(*(FACES / name for name in files)))
        assert answer.status_code == 422, answer.text
        assert message in answer.json()["detail"]["message"]
        assert httpx.get(f"{base}/jobs", auth=OPS).json()["jobs"] == []
        assert not any((obama_consented.settings.home / "uploads").glob("*/*"))
