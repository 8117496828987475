"""The History tab's handlers as gradio calls them: a user's own outputs only, each watched,
verified again and made again with its settings; gone files and other users' entries refused."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.jobs import JobManager
from sonic_ext.adapters.ui.generate import PARAM_ORDER, GenerateHandlers
from sonic_ext.adapters.ui.granted import consent_choice
from sonic_ext.adapters.ui.history import HistoryHandlers
from sonic_ext.contracts import GenerationParams
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
ALICE, BOB = gr.Request(username="alice"), gr.Request(username="bob")


def test_history_shows_a_users_own_outputs_to_watch_verify_and_make_again(
        obama_consented: SonicService, tmp_path: Path) -> None:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.5)
    params = {**GenerationParams().to_dict(), "seed": 7, "steps": 2, "min_resolution": 256}
    [consent] = obama_consented.list_consents()
    *_, (job_id, status, video, _, _) = GenerateHandlers(obama_consented).run(
        ALICE, str(FACES / "obama2.jpg"), str(speech), "education",
        *(params[name] for name in PARAM_ORDER), [consent.id])
    assert "Done in" in status

    history = HistoryHandlers(obama_consented, JobManager.for_service(obama_consented))
    chooser, rows = history.listing(None, ALICE)
    [entry] = chooser["choices"]
    assert entry.endswith(f"{Path(video).name} ({job_id})") and chooser["value"] is None
    assert rows[0][1:5] == [Path(video).name, "education", consent.id,
                            "signed · consent in force"]
    assert history.listing(None, BOB)[0]["choices"] == []  # nobody sees another's outputs
    with pytest.raises(gr.Error, match="not in your history"):
        history.show(entry, BOB)
    assert history.show(None, ALICE) == (None, None, "", "", None)  # nothing chosen yet

    shown, download, settings, verdict, report = history.show(entry, ALICE)
    assert shown == download == video
    assert "<th>Steps</th><td>2</td>" in settings and "<th>Seed</th><td>7</td>" in settings
    assert "sonic-verdict-authentic" in verdict and Path(report).is_file()

    # made again: the Generate tab's inputs as the entry was made, its consent picked
    purpose, picker, *values, note = history.reuse(entry, ALICE)
    assert purpose["value"] == "education" and picker["value"] == [consent_choice(consent)]
    made = dict(zip(PARAM_ORDER, (value["value"] for value in values)))
    assert made == {**params, "seed": 7, "steps": 2}
    assert "Settings copied" in note

    # after the consent is revoked: verified again, the verdict says so; not offered again
    obama_consented.revoke_consent(consent.id, "withdrawn", "test operator")
    assert history.listing(None, ALICE)[1][0][4] == "signed · consent revoked"
    verdict, _ = history.verify_again(entry, ALICE)
    assert "revoked" in verdict
    _, picker, *_, note = history.reuse(entry, ALICE)
    assert picker["value"] == [] and f"except consent {consent.id}" in note

    # the history is read from the job records: a restarted server has it too
    restarted = HistoryHandlers(obama_consented, JobManager(obama_consented))
    assert restarted.listing(entry, ALICE)[0]["value"] == entry

    with Path(video).open("ab") as appended:  # one byte added: the row says so at once
        appended.write(b"\0")
    assert history.listing(None, ALICE)[1][0][4] == "file changed since signing"
    Path(video).unlink()  # removed from the outputs folder: gone from the history
    assert history.listing(entry, ALICE)[0]["choices"] == []
    with pytest.raises(gr.Error, match="no longer in the outputs folder"):
        history.show(entry, ALICE)
    assert consent_ids(obama_consented) == ()
