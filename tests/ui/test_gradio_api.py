"""gradio's own API (what gradio_client and /run/... reach) is no way around the checks: the
page served on 127.0.0.1 by the installed gradio (3.41 as in A1111, or 4.x), called directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
from fastapi import FastAPI
from gradio_client import Client

from sonic_ext import Settings, SonicService
from sonic_ext.adapters.ui import build_ui
from sonic_ext.adapters.ui.compat import quiet_refusal_tracebacks
from sonic_ext.adapters.ui.generate import PARAM_ORDER
from sonic_ext.contracts import GenerationParams
from tests.conftest import consent_ids, write_tone_wav
from tests.servers import serve_in_thread

try:
    from gradio_client import handle_file
except ImportError:  # gradio_client 0.5 (gradio 3.41) takes plain paths
    handle_file = str

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
REFUSAL = "is not Barack Obama"


@pytest.fixture
def installation(obama_consented: SonicService) -> SonicService:
    """Obama's consent, and consent admin enabled with a token the caller does not have."""
    settings = Settings.from_environment({}, home=obama_consented.settings.home,
                                         models_dir=obama_consented.settings.models_dir,
                                         admin_token="not-the-callers")
    return SonicService(settings)


@pytest.fixture
def client(installation: SonicService) -> Iterator[Client]:
    """The UI mounted as a WebUI mounts it: a queued gr.Blocks inside a FastAPI app."""
    ui = build_ui(installation)
    ui.queue()
    app = gr.mount_gradio_app(FastAPI(), ui, path="/")
    with serve_in_thread(app, ready_path="/") as base:
        yield Client(base, verbose=False)


def test_a_direct_generate_call_meets_the_consent_gate(client: Client,
                                                       installation: SonicService,
                                                       tmp_path: Path,
                                                       capfd: pytest.CaptureFixture[str]
                                                       ) -> None:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    params = {**GenerationParams().to_dict(), "seed": 0, "steps": 1, "min_resolution": 256}
    args = (handle_file(str(FACES / "biden.jpg")), handle_file(str(speech)), "education",
            *(params[name] for name in PARAM_ORDER))
    with pytest.raises(Exception, match="consent_id: name the consent this video relies on"):
        client.predict(*args, [], api_name="/generate")  # no consent claimed
    with pytest.raises(Exception, match=REFUSAL):  # a bare id, as an API caller sends it
        client.predict(*args, list(consent_ids(installation)), api_name="/generate")
    assert list(installation.settings.outputs_dir.glob("*.mp4")) == []
    # the server's console: each refusal in one line, not gradio's traceback
    console = capfd.readouterr().err
    assert "Traceback" not in console, console
    assert [line for line in console.splitlines() if line.startswith("Sonic: ")] == [
        line for line in console.splitlines() if "consent" in line]
    assert len([line for line in console.splitlines() if REFUSAL in line]) == 1
    refusal = installation.verify_audit_chain()
    assert refusal.ok and refusal.events_checked == 2  # the enrolment, then this refusal


def test_other_errors_keep_their_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    """Only our own refusals are shortened: a bug, or another extension's gr.Error, is not."""
    quiet_refusal_tracebacks()
    import gradio.queueing as queueing  # where gradio 4 prints a handler's exception
    import gradio.routes as routes  # where gradio 3.41 does

    for module in (m for m in (queueing, routes) if hasattr(m, "traceback")):
        for error in (ValueError("a bug"), gr.Error("another extension's refusal")):
            try:
                raise error
            except Exception:  # noqa: BLE001 - what gradio catches
                module.traceback.print_exc()
            assert "Traceback" in capfd.readouterr().err


def test_direct_consent_calls_need_the_admin_token(client: Client,
                                                   installation: SonicService) -> None:
    with pytest.raises(Exception, match="a valid admin token is required"):
        client.predict("guess", api_name="/consent_list")
    with pytest.raises(Exception, match="a valid admin token is required"):
        client.predict("guess", installation.list_consents()[0].id, "no reason",
                       api_name="/consent_revoke")
    [consent] = installation.list_consents()
    assert consent.status == "active"
