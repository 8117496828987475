"""The Generate tab's handlers called as gradio calls them (under gradio 3.41 and 4.x alike):
the consent picker, a streamed generation to a verified, signed video, refusals, bad input and
cancellation."""

from __future__ import annotations

import inspect
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.ui.generate import (
    PARAM_ORDER,
    GenerateHandlers,
    generate_video,
    params_from_ui,
)
from sonic_ext.adapters.ui.granted import claimed_ids, consent_choice
from sonic_ext.adapters.ui.runs import RunRegistry
from sonic_ext.contracts import GenerationParams
from tests.conftest import consent_ids, write_tone_wav
from tests.evidence import write_release_pdf

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
# gradio 4.38+ can raise an error without its popup
INLINE_ONLY = "visible" in inspect.signature(gr.Error.__init__).parameters
SMALL = {"seed": 0, "steps": 1, "min_resolution": 256}
FAST = {**GenerationParams().to_dict(), **SMALL}


def inputs(image: Path, audio: Path, purpose: str = "education",
           consents: tuple[str, ...] | list[str] = (), **params: object) -> list:
    """The values gradio hands to the Generate handler, in the order of its inputs (the
    consent picker's values last)."""
    values = {**FAST, **params}
    return [str(image), str(audio), purpose, *(values[name] for name in PARAM_ORDER),
            list(consents)]


def run_all(handlers: GenerateHandlers, values: list) -> list[tuple]:
    return list(handlers.run(gr.Request(username="alice"), *values))


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "speech.wav", seconds=1.5)


@pytest.fixture
def two_people(service: SonicService, tmp_path: Path) -> SonicService:
    """Barack Obama's consent granted to alice in the UI, Joe Biden's to bob on any surface."""
    evidence = write_release_pdf(tmp_path / "release.pdf")
    service.add_consent("Barack Obama", [FACES / "obama.jpg"], evidence, ["education"], None,
                        "test operator", grantees=["ui:alice"])
    service.add_consent("Joe Biden", [FACES / "biden.jpg"], evidence, ["education", "news"],
                        datetime(2099, 1, 31, tzinfo=timezone.utc), "test operator",
                        grantees=["bob"])
    return service


def test_the_picker_offers_only_the_consents_granted_to_the_user(two_people: SonicService
                                                                ) -> None:
    handlers = GenerateHandlers(two_people)
    obama, biden = two_people.list_consents()

    picker, rows = handlers.granted([], request=gr.Request(username="alice"))
    assert picker["choices"] == [f"Barack Obama — education, no expiry ({obama.id})"]
    assert picker["value"] == []
    assert rows == [[obama.id, "Barack Obama", "education", "no expiry"]]  # no evidence path

    picker, rows = handlers.granted(None, request=gr.Request(username="bob"))
    label = f"Joe Biden — education, news, until 2099-01-31 ({biden.id})"
    assert picker["choices"] == [label]
    assert rows == [[biden.id, "Joe Biden", "education, news", "2099-01-31T00:00:00+00:00"]]

    picker, rows = handlers.granted([], request=gr.Request())  # no login: "ui", granted nothing
    assert picker["choices"] == [] and rows == []

    # A refresh keeps what is still granted (by id) and drops what no longer is.
    picker, _ = handlers.granted([consent_choice(obama), biden.id],
                                 request=gr.Request(username="alice"))
    assert picker["value"] == [consent_choice(obama)]
    two_people.revoke_consent(obama.id, "withdrawn", "test operator")
    picker, rows = handlers.granted([consent_choice(obama)],
                                    request=gr.Request(username="alice"))
    assert (picker["choices"], picker["value"], rows) == ([], [], [])


def test_the_picked_labels_are_claimed_by_their_ids() -> None:
    assert claimed_ids(["Barack Obama — education, no expiry (con_ab12)",
                        " con_cd34 ", "Dr. J. (Joe) Biden — news, until 2030-01-01 (con_ef56)",
                        "con_ab12", ""]) == ("con_ab12", "con_cd34", "con_ef56")
    assert claimed_ids("con_ab12") == ("con_ab12",)
    assert claimed_ids(None) == () and claimed_ids([]) == ()


def test_without_a_consent_picked_nothing_is_generated(obama_consented: SonicService,
                                                      speech: Path) -> None:
    updates: list[tuple] = []
    with pytest.raises(gr.Error, match="consent_id: name the consent this video relies on"):
        updates.extend(GenerateHandlers(obama_consented).run(
            gr.Request(username="alice"), *inputs(FACES / "obama2.jpg", speech, consents=[])))
    assert "consent_id: name the consent" in updates[-1][1]
    with pytest.raises(gr.Error, match="consent_id: name the consent"):
        generate_video(obama_consented, str(FACES / "obama2.jpg"), str(speech), "education",
                       SMALL, consents=None)
    assert list(obama_consented.settings.outputs_dir.iterdir()) == []


def test_a_consent_granted_to_someone_else_is_refused(two_people: SonicService,
                                                     speech: Path) -> None:
    [biden] = two_people.list_consents(granted_to="bob")
    with pytest.raises(gr.Error, match=f"consent {biden.id} \\(Joe Biden\\) is not granted to "
                                       "ui:alice"):
        generate_video(two_people, str(FACES / "biden.jpg"), str(speech), "education",
                       SMALL, consents=[consent_choice(biden)], requested_by="ui:alice")
    assert list(two_people.settings.outputs_dir.iterdir()) == []


def test_widget_values_become_generation_params() -> None:
    params = params_from_ui({"seed": 0.0, "steps": 3.0, "min_resolution": 320.0,
                             "dynamic_scale": 1, "decode_chunk_size": 4.0, "crop": False})
    assert (params.seed, params.steps, params.min_resolution) == (0, 3, 320)
    assert params.dynamic_scale == 1.0 and isinstance(params.dynamic_scale, float)
    assert params.decode_chunk_size == 4 and params.crop is False


def test_bad_parameters_are_refused_naming_the_field(service: SonicService, portrait: Path,
                                                     speech: Path) -> None:
    with pytest.raises(gr.Error, match="steps: must be a whole number, got 2.5"):
        generate_video(service, str(portrait), str(speech), "education",
                       {**SMALL, "steps": 2.5})
    with pytest.raises(gr.Error, match="min_resolution: must be a multiple of 64, got 300"):
        generate_video(service, str(portrait), str(speech), "education",
                       {**SMALL, "min_resolution": 300})
    with pytest.raises(gr.Error, match="seed: must be a whole number, got None"):
        generate_video(service, str(portrait), str(speech), "education",
                       {**SMALL, "seed": None})
    with pytest.raises(gr.Error, match="Upload a portrait and a speech clip first"):
        generate_video(service, None, str(speech), "education")
    assert list(service.settings.outputs_dir.iterdir()) == []


def test_a_generation_streams_progress_then_shows_the_signed_video_and_its_provenance(
        obama_consented: SonicService, speech: Path) -> None:
    runs = RunRegistry()
    handlers = GenerateHandlers(obama_consented, runs)
    picker, _ = handlers.granted([], request=gr.Request(username="alice"))
    [label] = picker["choices"]  # what the browser hands back: the label
    updates = run_all(handlers, inputs(FACES / "obama2.jpg", speech, consents=[label]))
    statuses = [update[1] for update in updates]
    assert "Starting" in statuses[0]
    assert any("Denoising" in status for status in statuses), statuses

    run_id, status, video, summary, report = updates[-1]
    assert "Done in" in status and len(runs) == 0
    assert Path(video).parent == obama_consented.settings.outputs_dir and Path(video).is_file()
    [consent] = obama_consented.list_consents()
    assert "sonic-verdict-authentic" in summary and consent.id in summary
    generation = obama_consented.registry.find_generation(output_sha256=_sha256(Path(video)))
    assert generation is not None and generation.id in summary
    assert "development credentials" in summary
    assert Path(report).is_file() and "Authentic" in Path(report).read_text()
    assert all(update[0] == run_id for update in updates)


def test_a_face_without_consent_is_refused_and_the_page_says_why(
        obama_consented: SonicService, speech: Path) -> None:
    updates: list[tuple] = []
    with pytest.raises(gr.Error, match="is not Barack Obama") as refused:
        updates.extend(GenerateHandlers(obama_consented).run(
            gr.Request(),
            *inputs(FACES / "biden.jpg", speech, consents=consent_ids(obama_consented))))
    # said once, inline: where gradio can, no popup repeats it (API callers still get it)
    assert getattr(refused.value, "visible", True) is not INLINE_ONLY
    assert "sonic-notice-error" in updates[-1][1]
    assert "is not Barack Obama" in updates[-1][1]
    assert list(obama_consented.settings.outputs_dir.glob("*.mp4")) == []


def test_cancel_stops_the_run_and_nothing_is_written(obama_consented: SonicService,
                                                    speech: Path) -> None:
    handlers = GenerateHandlers(obama_consented)
    stream = handlers.run(gr.Request(), *inputs(FACES / "obama2.jpg", speech, steps=5,
                                                consents=consent_ids(obama_consented)))
    run_id = next(stream)[0]
    next(stream)  # the generation is under way
    assert "Cancelling" in handlers.cancel(run_id)
    rest = list(stream)
    cancelled = ("<div class='sonic-notice sonic-notice-cancelled' data-state='cancelled'>"
                 "Cancelled: nothing was written.</div>")
    assert rest[-1][1:] == (cancelled, None, "", None)
    assert "Nothing is running" in handlers.cancel(run_id)
    assert list(obama_consented.settings.outputs_dir.iterdir()) == []


def test_a_page_that_stops_listening_cancels_its_run(obama_consented: SonicService,
                                                     speech: Path) -> None:
    runs = RunRegistry()
    stream = GenerateHandlers(obama_consented, runs).run(
        gr.Request(),
        *inputs(FACES / "obama2.jpg", speech, steps=5, consents=consent_ids(obama_consented)))
    next(stream)
    next(stream)  # the generation is under way
    stream.close()  # what gradio does when the browser goes away mid-stream
    assert len(runs) == 0
    workers = [t for t in threading.enumerate() if t.name == "sonic-ui-generate"]
    assert workers  # still finishing its current step
    for worker in workers:
        worker.join(timeout=120)
        assert not worker.is_alive()
    assert list(obama_consented.settings.outputs_dir.iterdir()) == []


def test_gradio_3_hands_files_over_as_temp_file_objects(obama_consented: SonicService,
                                                        speech: Path) -> None:
    """gr.File on gradio 3.41 passes a tempfile wrapper with `.name`, not a str."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as image, \
            tempfile.NamedTemporaryFile(suffix=".wav") as audio:
        image.write((FACES / "biden.jpg").read_bytes())
        audio.write(speech.read_bytes())
        image.flush()
        audio.flush()
        with pytest.raises(gr.Error, match="is not Barack Obama"):
            generate_video(obama_consented, image, audio, "education", SMALL,
                           consents=consent_ids(obama_consented))


def _sha256(path: Path) -> str:
    from sonic_ext.hashing import file_sha256

    return file_sha256(path)


def test_the_tab_warns_while_test_weights_are_loaded(obama_consented: SonicService,
                                                     service: SonicService) -> None:
    notice = GenerateHandlers(obama_consented).weights_notice()  # tiny weights
    assert notice.startswith("<p class='sonic-test-weights'>TEST WEIGHTS are loaded")
    assert GenerateHandlers(service).weights_notice() == ""  # no models: nothing to warn of
