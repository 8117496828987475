"""No surface reaches the pipeline without a passing gate: the UI's handler, gradio's own API
(a direct call), the HTTP API and the CLI all refuse a face without consent; a consented face
goes all the way through the HTTP API's job to a signed video."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio_client import Client

try:
    from gradio_client import handle_file
except ImportError:  # gradio_client 0.5 (gradio 3.41) takes plain paths
    handle_file = str

from sonic_ext import GenerationParams, SonicService
from sonic_ext.adapters import cli
from sonic_ext.adapters.api.auth import ApiAuth
from sonic_ext.adapters.app import create_app
from sonic_ext.adapters.ui import build_ui
from sonic_ext.adapters.ui.generate import PARAM_ORDER, prepare_generation
from tests.api.router_app import router_app
from tests.conftest import consent_ids, write_tone_wav
from tests.servers import serve_in_thread

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
REFUSAL = "is not Barack Obama"


@pytest.fixture
def installation(obama_consented: SonicService) -> SonicService:
    return obama_consented


GRADIO_3 = int(gr.__version__.split(".")[0]) < 4
UI_LOGIN = {} if GRADIO_3 else {"auth": ("ops", "pw")}  # A1111's page has no login of ours


@pytest.fixture
def served(installation: SonicService) -> Iterator[str]:
    """The standalone app on gradio 4; on gradio 3.41 the app as A1111 serves it: our router
    on the host's FastAPI app, the UI mounted beside it."""
    auth = ApiAuth(users={"ops": "pw"})
    if GRADIO_3:
        ui = build_ui(installation)
        ui.queue()
        app = gr.mount_gradio_app(router_app(installation, auth), ui, path="/")
    else:
        app = create_app(installation, auth)
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "speech.wav", seconds=1.5)


def test_every_surface_refuses_a_face_without_consent(installation: SonicService, served: str,
                                                      speech: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    biden = FACES / "biden.jpg"
    events_before = installation.verify_audit_chain().events_checked

    with pytest.raises(gr.Error, match=REFUSAL):  # the UI's Generate button
        prepare_generation(installation, str(biden), str(speech), "education",
                       {"seed": 0, "steps": 1, "min_resolution": 256},
                       consents=consent_ids(installation))

    client = Client(served, verbose=False, **UI_LOGIN)  # gradio's own API, directly
    with pytest.raises(Exception, match=REFUSAL):
        params = {**GenerationParams().to_dict(), "seed": 0, "steps": 1, "min_resolution": 256}
        client.predict(handle_file(str(biden)), handle_file(str(speech)), "education",
                       *(params[name] for name in PARAM_ORDER), list(consent_ids(installation)),
                       api_name="/generate")

    with biden.open("rb") as image, speech.open("rb") as audio:  # the HTTP API
        response = httpx.post(f"{served}/sonic/v1/generate", auth=("ops", "pw"),
                              files={"image": image, "audio": audio},
                              data={"purpose": "education", "params": '{"steps": 1}',
                                    "consent_id": list(consent_ids(installation))})
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "consent_refused"
    assert REFUSAL in response.json()["detail"]["message"]

    code = cli.main(["--home", str(installation.settings.home), "generate", "--image",
                     str(biden), "--audio", str(speech), "--out", str(tmp_path / "cli.mp4"),
                     "--purpose", "education", "--consent", consent_ids(installation)[0]])
    assert code == 3 and REFUSAL in capsys.readouterr().err

    assert list(installation.settings.outputs_dir.glob("*.mp4")) == []
    assert not (tmp_path / "cli.mp4").exists()
    audit = installation.verify_audit_chain()
    assert audit.ok and audit.events_checked == events_before + 4  # one refusal per surface


def test_the_api_needs_a_user_before_anything_else(served: str, speech: Path) -> None:
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        response = httpx.post(f"{served}/sonic/v1/generate",
                              files={"image": image, "audio": audio})
    assert response.status_code == 401


def test_a_consented_face_goes_through_an_api_job_to_a_signed_video(
        served: str, speech: Path, installation: SonicService) -> None:
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        response = httpx.post(f"{served}/sonic/v1/generate", auth=("ops", "pw"),
                              files={"image": image, "audio": audio},
                              data={"purpose": "education",
                                    "consent_id": list(consent_ids(installation)),
                                    "preset": "fast",
                                    "params": '{"steps": 1, "min_resolution": 256}'})
    assert response.status_code == 202, response.text
    job_url = f"{served}/sonic/v1/{response.json()['status_url']}"
    deadline = time.monotonic() + 300
    while (state := httpx.get(job_url, auth=("ops", "pw")).json())["state"] in ("queued",
                                                                              "running"):
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert state["state"] == "done", state
    assert state["result"]["credentials"] == "development credentials"
    video = httpx.get(f"{job_url}/video", auth=("ops", "pw"))
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert b"c2pa" in video.content[:20_000]  # the manifest box sits before the media data
    # the preset's values, under those `params` set, are what the manifest's record holds
    record = installation.registry.find_generation(
        watermark_id=state["result"]["watermark_id"])
    assert record is not None
    assert {key: record.parameters[key] for key in ("steps", "min_resolution", "interpolate",
                                                     "seed")} == \
        {"steps": 1, "min_resolution": 256, "interpolate": False, "seed": 72589}


def test_a_job_can_be_cancelled_and_unknown_jobs_are_404(served: str, speech: Path,
                                                         installation: SonicService) -> None:
    auth = ("ops", "pw")
    assert httpx.get(f"{served}/sonic/v1/jobs/nope", auth=auth).status_code == 404
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        started = httpx.post(f"{served}/sonic/v1/generate", auth=auth,
                             files={"image": image, "audio": audio},
                             data={"purpose": "education",
                                   "consent_id": list(consent_ids(installation)),
                                   "params": '{"steps": 3, "min_resolution": 256}'}).json()
    job_url = f"{served}/sonic/v1/{started['status_url']}"
    assert httpx.delete(job_url, auth=auth).status_code == 200
    deadline = time.monotonic() + 300
    while (state := httpx.get(job_url, auth=auth).json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["state"] == "cancelled", state
    assert httpx.get(f"{job_url}/video", auth=auth).status_code == 409
    assert list(installation.settings.outputs_dir.glob("*.mp4")) == []
    assert list(installation.settings.outputs_dir.glob(".sonic-publish*")) == []


def test_bad_parameters_and_oversized_uploads_are_refused(served: str, speech: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from sonic_ext.adapters.api import generate as routes

    auth = ("ops", "pw")
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        bad = httpx.post(f"{served}/sonic/v1/generate", auth=auth,
                         files={"image": image, "audio": audio},
                         data={"params": '{"steps": 0}'})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "steps"
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        unknown = httpx.post(f"{served}/sonic/v1/generate", auth=auth,
                             files={"image": image, "audio": audio}, data={"preset": "turbo"})
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "preset"
    assert "choose one of fast, standard, quality" in unknown.json()["detail"]["message"]
    monkeypatch.setattr(routes, "MAX_IMAGE_BYTES", 1000)
    with (FACES / "obama2.jpg").open("rb") as image, speech.open("rb") as audio:
        big = httpx.post(f"{served}/sonic/v1/generate", auth=auth,
                         files={"image": image, "audio": audio})
    assert big.status_code == 413 and big.json()["detail"]["field"] == "image"
