"""A failure inside the Sonic pipeline is named for what it is on every surface: a model error
is `pipeline_failed`, a CUDA out-of-memory `out_of_memory` with what to change, never
`signing_failed` (the encoder pulls the frames, the signer comes after); nothing is written."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx
import pytest
import torch

from sonic_ext import SonicService
from sonic_ext.adapters import cli
from sonic_ext.adapters.api.auth import ApiAuth
from sonic_ext.adapters.app import create_app
from sonic_ext.adapters.ui.generate import PARAM_ORDER, GenerateHandlers
from sonic_ext.contracts import GenerationParams
from sonic_ext.sonic import stage
from tests.conftest import consent_ids, write_tone_wav
from tests.servers import serve_in_thread

pytest.importorskip("gradio", minversion="4.0", reason="the standalone app is gradio 4")

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
# code -> (the error, where the pipeline raises it, what the user is told)
FAILURES = {
    "pipeline_failed": (RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x7 and 3x2)"),
                        "decode", "the Sonic pipeline failed: RuntimeError: mat1 and mat2"),
    "out_of_memory": (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 "
                                                  "GiB"), "denoise", "--offload model"),
}


@pytest.fixture(params=sorted(FAILURES))
def failing(request: pytest.FixtureRequest, obama_consented: SonicService,
            monkeypatch: pytest.MonkeyPatch) -> tuple[SonicService, str, str]:
    """The installation, with a pipeline that fails while denoising, or while decoding after
    its first chunk of frames went into the encoder."""
    error, where, expected = FAILURES[request.param]

    def denoise(*_: object, **__: object) -> torch.Tensor:
        raise error

    def decode(*_: object, **__: object) -> Iterator[torch.Tensor]:
        yield torch.zeros(1, 3, 256, 256)
        raise error

    if where == "denoise":
        monkeypatch.setattr(stage, "denoise_video", denoise)
    else:
        monkeypatch.setattr(stage, "decode_video", decode)
    return obama_consented, request.param, expected


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "speech.wav", seconds=1.5)


def test_a_pipeline_failure_reaches_every_surface_with_its_own_code(
        failing: tuple[SonicService, str, str], speech: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    service, code, expected = failing
    claims = list(consent_ids(service))

    out = tmp_path / "cli.mp4"  # the CLI
    exit_code = cli.main(["--home", str(service.settings.home), "--models-dir",
                          str(service.settings.models_dir), "generate", "--image",
                          str(FACES / "obama2.jpg"), "--audio", str(speech), "--out", str(out),
                          "--purpose", "education", "--steps", "1", "--min-resolution", "256",
                          "--consent", claims[0], "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert (exit_code, error["code"]) == (1, code), error
    assert expected in error["message"] + error.get("hint", "")
    assert not out.exists()

    params = {**GenerationParams().to_dict(), "seed": 0, "steps": 1, "min_resolution": 256}
    updates: list[tuple] = []
    with pytest.raises(gr.Error, match=rf"\[{code}\]"):  # the UI's Generate button: a job
        updates.extend(GenerateHandlers(service).run(
            gr.Request(), str(FACES / "obama2.jpg"), str(speech), "education",
            *(params[name] for name in PARAM_ORDER), claims))
    assert expected in updates[-1][1] and f"[{code}]" in updates[-1][1]

    auth = ApiAuth(users={"ops": "pw"})  # the HTTP API's job
    with serve_in_thread(create_app(service, auth)) as base, \
            (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        started = httpx.post(f"{base}/sonic/v1/generate", auth=("ops", "pw"),
                             files={"image": image, "audio": audio},
                             data={"purpose": "education", "consent_id": claims,
                                   "params": '{"steps": 1, "min_resolution": 256}'}).json()
        job_url = f"{base}/sonic/v1/{started['status_url']}"
        deadline = time.monotonic() + 300
        while (job := httpx.get(job_url, auth=("ops", "pw")).json())["state"] in (
                "queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
    assert job["state"] == "failed" and job["error"]["code"] == code, job

    outputs = service.settings.outputs_dir
    assert list(outputs.glob("*.mp4")) == [] and list(outputs.glob(".sonic-publish*")) == []
    with service.registry.database.engine.connect() as db:  # each failure is on record
        failed = db.exec_driver_sql("SELECT count(*) FROM generations WHERE status = 'failed'"
                                    ).scalar()
    assert failed == 3
