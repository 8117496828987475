"""The Generate tab's handlers called as gradio calls them (under gradio 3.41 and 4.x alike):
the consent picker, a streamed generation to a verified, signed video, refusals, bad input and
cancellation."""

from __future__ import annotations

import inspect
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.ui.generate import (
    PARAM_ORDER,
    GenerateHandlers,
    params_from_ui,
    prepare_generation,
)
from sonic_ext.adapters.ui.granted import claimed_ids, consent_choice
from sonic_ext.adapters.ui.job_view import SHOW_ENDED_FOR_S, latest_job
from sonic_ext.contracts import GenerationParams
from sonic_ext.policy import load_policy
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

    picker, purpose, rows = handlers.granted([], "general", gr.Request(username="alice"))
    assert picker["choices"] == [f"Barack Obama — education, no expiry ({obama.id})"]
    assert picker["value"] == []
    assert rows == [[obama.id, "Barack Obama", "education", "no expiry"]]  # no evidence path
    # the purposes to choose from: those the consents granted cover, not a guess to type
    assert (purpose["choices"], purpose["value"]) == (["education"], "education")

    picker, purpose, rows = handlers.granted(None, "news", gr.Request(username="bob"))
    label = f"Joe Biden — education, news, until 2099-01-31 ({biden.id})"
    assert picker["choices"] == [label]
    assert rows == [[biden.id, "Joe Biden", "education, news", "2099-01-31T00:00:00+00:00"]]
    assert (purpose["choices"], purpose["value"]) == (["education", "news"], "news")

    picker, purpose, rows = handlers.granted([], "general", gr.Request())  # "ui": granted none
    assert picker["choices"] == [] and rows == [] and purpose["choices"] == []

    # A refresh keeps what is still granted (by id) and drops what no longer is.
    picker, _, _ = handlers.granted([consent_choice(obama), biden.id], "education",
                                    gr.Request(username="alice"))
    assert picker["value"] == [consent_choice(obama)]
    two_people.revoke_consent(obama.id, "withdrawn", "test operator")
    picker, purpose, rows = handlers.granted([consent_choice(obama)], "education",
                                             gr.Request(username="alice"))
    assert (picker["choices"], picker["value"], rows) == ([], [], [])
    assert purpose["choices"] == []


def test_the_purposes_offered_are_those_the_policy_allows(two_people: SonicService,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('version = "news-only"\n[purposes]\nallowed = ["news"]\n')
    monkeypatch.setattr(two_people, "policy", load_policy(policy))
    _, purpose, _ = GenerateHandlers(two_people).granted([], "education",
                                                          gr.Request(username="bob"))
    assert (purpose["choices"], purpose["value"]) == (["news"], "news")


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
        prepare_generation(obama_consented, str(FACES / "obama2.jpg"), str(speech), "education",
                       SMALL, consents=None)
    assert list(obama_consented.settings.outputs_dir.iterdir()) == []


def test_a_consent_granted_to_someone_else_is_refused(two_people: SonicService,
                                                     speech: Path) -> None:
    [biden] = two_people.list_consents(granted_to="bob")
    with pytest.raises(gr.Error, match=f"consent {biden.id} \\(Joe Biden\\) is not granted to "
                                       "ui:alice"):
        prepare_generation(two_people, str(FACES / "biden.jpg"), str(speech), "education",
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
        prepare_generation(service, str(portrait), str(speech), "education",
                       {**SMALL, "steps": 2.5})
    with pytest.raises(gr.Error, match="min_resolution: must be a multiple of 64, got 300"):
        prepare_generation(service, str(portrait), str(speech), "education",
                       {**SMALL, "min_resolution": 300})
    with pytest.raises(gr.Error, match="seed: must be a whole number, got None"):
        prepare_generation(service, str(portrait), str(speech), "education",
                       {**SMALL, "seed": None})
    with pytest.raises(gr.Error, match="Upload a portrait and a speech clip first"):
        prepare_generation(service, None, str(speech), "education")
    assert list(service.settings.outputs_dir.iterdir()) == []


def test_a_generation_streams_progress_then_shows_the_signed_video_and_its_provenance(
        obama_consented: SonicService, speech: Path) -> None:
    handlers = GenerateHandlers(obama_consented)
    picker, _, _ = handlers.granted([], "education", gr.Request(username="alice"))
    [label] = picker["choices"]  # what the browser hands back: the label
    updates = run_all(handlers, inputs(FACES / "obama2.jpg", speech, consents=[label]))
    statuses = [update[1] for update in updates]
    assert "Starting" in statuses[0]
    assert any("Denoising" in status for status in statuses), statuses

    run_id, status, video, summary, report = updates[-1]
    assert "Done in" in status
    assert Path(video).parent == obama_consented.settings.outputs_dir and Path(video).is_file()
    assert Path(video).name.startswith("obama2-")  # named after the user's portrait
    [consent] = obama_consented.list_consents()
    assert "sonic-verdict-authentic" in summary and consent.id in summary
    generation = obama_consented.registry.find_generation(output_sha256=_sha256(Path(video)))
    assert generation is not None and generation.id in summary
    assert "development credentials" in summary
    assert Path(report).is_file() and "Authentic" in Path(report).read_text()
    # the inputs and the gate are checked first; what passed is a job of the user's
    checked = [update[0] for update in updates].index(run_id)
    assert checked > 0 and {update[0] for update in updates[:checked]} == {None}
    assert {update[0] for update in updates[checked:]} == {run_id}
    job = handlers.jobs.get(run_id, "ui:alice")
    assert job.state == "done" and job.result.out == Path(video)


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
    run_id = _job_started(stream)
    assert "Nothing is running" in handlers.cancel(run_id, gr.Request(username="mallory"))
    assert "Cancelling" in handlers.cancel(run_id, gr.Request())
    rest = list(stream)
    cancelled = ("<div class='sonic-notice sonic-notice-cancelled' data-state='cancelled'>"
                 "Cancelled: nothing was written.</div>")
    assert rest[-1][1:] == (cancelled, None, "", None)
    assert "Nothing is running" in handlers.cancel(run_id, gr.Request())
    assert list(obama_consented.settings.outputs_dir.iterdir()) == []


def test_the_job_outlives_its_page_and_a_new_page_follows_it(obama_consented: SonicService,
                                                             speech: Path) -> None:
    handlers = GenerateHandlers(obama_consented)
    stream = handlers.run(gr.Request(username="alice"),
                          *inputs(FACES / "obama2.jpg", speech, steps=3,
                                  consents=consent_ids(obama_consented)))
    run_id = _job_started(stream)
    stream.close()  # what gradio does when the browser goes away mid-stream

    # another user's page shows nothing of it; alice's reloaded page follows it to the end
    [other] = list(handlers.resume(gr.Request(username="bob")))
    assert other[:5] == (gr.update(),) * 5 and other[5] == gr.update(interactive=True)
    assert other[6:] == (gr.update(),) * (2 + len(PARAM_ORDER))  # bob's inputs stay his
    updates = list(GenerateHandlers(obama_consented).resume(gr.Request(username="alice")))
    assert {update[0] for update in updates} == {run_id}
    assert updates[0][5] == gr.update(interactive=False)  # one run at a time from a page
    assert any("Denoising" in update[1] for update in updates), updates
    # the reloaded page shows what the run was started with, once (then the user may edit)
    purpose, picker, *values = updates[0][6:]
    [consent] = obama_consented.list_consents()
    assert purpose["value"] == "education" and picker["value"] == [consent_choice(consent)]
    assert dict(zip(PARAM_ORDER, (value["value"] for value in values)))["steps"] == 3
    assert all(update[6:] == (gr.update(),) * (2 + len(PARAM_ORDER)) for update in updates[1:])
    _, status, video, summary, report, enabled, *_ = updates[-1]
    assert "Done in" in status and Path(video).is_file() and "sonic-verdict-authentic" in summary
    assert enabled == gr.update(interactive=True)

    # a page opened later shows that outcome for a while, then nothing
    job = handlers.jobs.get(run_id, "ui:alice")
    assert latest_job(handlers.jobs, "ui:alice") is job
    assert latest_job(handlers.jobs, "ui:alice", time.time() + SHOW_ENDED_FOR_S + 5) is None


def _job_started(stream) -> str:  # noqa: ANN001 - the handler's generator
    """Read the stream until the inputs and gate are checked and the job exists: its id."""
    for update in stream:
        if update[0] is not None:
            return update[0]
    raise AssertionError("the stream ended before a job started")


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
            prepare_generation(obama_consented, image, audio, "education", SMALL,
                           consents=consent_ids(obama_consented))


def _sha256(path: Path) -> str:
    from sonic_ext.hashing import file_sha256

    return file_sha256(path)


def test_the_tab_warns_while_test_weights_are_loaded(obama_consented: SonicService,
                                                     service: SonicService) -> None:
    notice = GenerateHandlers(obama_consented).weights_notice()  # tiny weights
    assert notice.startswith("<p class='sonic-test-weights'>TEST WEIGHTS are loaded")
    assert GenerateHandlers(service).weights_notice() == ""  # no models: nothing to warn of


def test_a_published_video_that_cannot_be_read_back_is_still_shown(
        service: SonicService, monkeypatch: pytest.MonkeyPatch) -> None:
    from sonic_ext.adapters.jobs import Job
    from sonic_ext.adapters.ui.job_view import follow
    from sonic_ext.contracts import GenerateResult
    from sonic_ext.errors import RegistryBusy

    out = service.settings.outputs_dir / "made.mp4"
    out.write_bytes(b"\0" * 64)
    job = Job("0" * 16, owner="ui", purpose="education", state="done",
              result=GenerateResult(out, "gen_1", "0" * 12, "con_1", "0" * 64,
                                    "development credentials", 1.0))

    def busy(*_args: object, **_kwargs: object) -> None:
        raise RegistryBusy("the registry is busy")

    monkeypatch.setattr(service, "verify", busy)
    *_, (job_id, status, video, summary, report) = follow(service, job, raise_failure=True)
    assert "made.mp4 was published, but verifying it failed: the registry is busy" in status
    assert (video, summary, report) == (str(out), "", None)
