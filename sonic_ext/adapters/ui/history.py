"""The History tab: the signed videos this page's user made, newest first, to watch, download,
verify again or make again with the same settings.

The list is the user's own UI jobs that ended with a published file (`JobManager.of_owner`), so
nobody sees another's outputs, and it survives restarts (the job records do). An entry's
settings come from its generation record, the parameters its manifest was signed with.

Each row says how the entry stands now, from what is quick to learn for fifty rows: whether the
file still has the bytes that were signed and whether its consents are still in force. The full
verification (manifest, signer, watermark) runs when an entry is chosen.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ...consent.fields import split_labels
from ...consent.records import ConsentRecord
from ...contracts import GenerationParams
from ...errors import SonicError
from ...hashing import file_sha256
from ...parameters import param_specs
from ...service import SonicService
from ..jobs import Job, Jobs, UnknownJob, jobs_for
from .compat import keep_out_of_ui_config
from .errors import ui_error
from .generate import PARAM_ORDER, GenerateTab, filled_in
from .granted import requester
from .render import notice_html, verdict_html
from .verify import verify_with_report

HISTORY_SIZE = 50
HISTORY_HEADERS = ["made (UTC)", "file", "purpose", "consent", "now", "seconds"]
_JOB_AT_END = re.compile(r"\(([0-9a-f]{16})\)\s*$")


def finished(jobs: Jobs, owner: str, limit: int = HISTORY_SIZE) -> list[Job]:
    """The owner's jobs that published a file still in the outputs folder, newest first."""
    return [job for job in jobs.of_owner(owner) if job.published_video()][:limit]


def made_at(job: Job) -> str:
    return job.created_at[:16].replace("T", " ")


def entry_label(job: Job) -> str:
    assert job.result is not None
    return f"{made_at(job)} · {job.result.out.name} ({job.id})"


def state_now(job: Job, consents: Mapping[str, ConsentRecord]) -> str:
    """How an entry stands now: its file's bytes against the signed sha256, then the status of
    each consent it relies on (revoked, expired, superseded: the first one not in force)."""
    assert job.result is not None
    if file_sha256(job.result.out) != job.result.sha256:
        return "file changed since signing"
    for consent_id in split_labels(job.result.consent_id):
        record = consents.get(consent_id)
        if record is None:
            return f"consent {consent_id} unknown here"
        if record.status != "active":
            return f"signed · consent {record.status}"
    return "signed · consent in force"


def history_rows(jobs: Sequence[Job], consents: Mapping[str, ConsentRecord]
                 ) -> list[list[str]]:
    return [[made_at(job), job.result.out.name, job.purpose, job.result.consent_id,
             state_now(job, consents), f"{job.result.seconds:.1f}"]
            for job in jobs if job.result]


@dataclass
class HistoryHandlers:
    service: SonicService
    jobs: Jobs

    def listing(self, picked: str | None, request: gr.Request
                ) -> tuple[dict[str, Any], list[list[str]]]:
        """(entry chooser, table): the user's outputs, keeping the chosen one if still there;
        as many as the host's `history_size` option says (a WebUI's Settings page)."""
        owned = finished(self.jobs, requester(request),
                         self.service.host.preference("history_size", HISTORY_SIZE))
        choices = [entry_label(job) for job in owned]
        consents = {record.id: record for record in self.service.list_consents()}
        return (gr.update(choices=choices, value=picked if picked in choices else None),
                history_rows(owned, consents))

    def show(self, picked: str | None, request: gr.Request) -> tuple[Any, ...]:
        """(video, download, settings, verdict, report): one entry, verified now; all empty
        while none is chosen."""
        if not picked:
            return None, None, "", "", None
        job = self._entry(picked, request)
        assert job.result is not None
        verdict, report = self.verify_again(picked, request)
        out = str(job.result.out)
        return out, out, settings_html(job, self._parameters(job)), verdict, report

    def verify_again(self, picked: str | None, request: gr.Request) -> tuple[str, str]:
        """(verdict, report file): what the file says now, e.g. after its consent was revoked."""
        job = self._entry(picked, request)
        assert job.result is not None
        try:
            report, report_path = verify_with_report(self.service, job.result.out)
        except SonicError as exc:
            raise ui_error(exc) from None
        return verdict_html(report), str(report_path)

    def reuse(self, picked: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Updates for the Generate tab's purpose, consents and every parameter input, set as
        that entry was made, and a note; a consent no longer granted is left out and said."""
        job = self._entry(picked, request)
        assert job.result is not None
        made = self._parameters(job)
        updates, missing = filled_in(self.service, requester(request),
                                     str(made.get("purpose", job.purpose)),
                                     split_labels(job.result.consent_id), made)
        note = ("Settings copied to the Generate tab: add a portrait and a speech clip there."
                if not missing else
                f"Settings copied to the Generate tab, except consent {', '.join(missing)}: "
                "it is no longer in force or granted to you.")
        return (*updates, notice_html("done" if not missing else "error", note))

    def _entry(self, picked: str | None, request: gr.Request) -> Job:
        found = _JOB_AT_END.search(picked or "")
        if found is None:
            raise gr.Error("Choose one of your outputs first.")
        try:
            job = self.jobs.get(found.group(1), requester(request))
        except UnknownJob:
            raise gr.Error("That output is not in your history.") from None
        if job.published_video() is None:
            raise gr.Error(f"{job.result.out.name if job.result else job.id} is no longer in "
                           "the outputs folder.")
        return job

    def _parameters(self, job: Job) -> dict[str, Any]:
        assert job.result is not None
        record = self.service.registry.find_generation(watermark_id=job.result.watermark_id)
        return dict(record.parameters) if record else {}


def settings_html(job: Job, parameters: dict[str, Any]) -> str:
    """The entry's records and the settings it was made with, by their UI labels."""
    assert job.result is not None
    labels = {spec.name: spec.label for spec in param_specs(GenerationParams)}
    rows = [("File", job.result.out.name), ("Made", f"{made_at(job)} UTC"),
            ("Purpose", parameters.get("purpose", job.purpose)),
            ("Consent", job.result.consent_id), ("Generation", job.result.generation_id),
            *((labels[name], parameters[name]) for name in PARAM_ORDER if name in parameters)]
    body = "".join(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(_shown(value))}"
                   f"</td></tr>" for name, value in rows)
    return f"<table class='sonic-provenance sonic-history-settings'>{body}</table>"


def _shown(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def history_tab(service: SonicService, generate: GenerateTab) -> Callable[[gr.Blocks], None]:
    """Build the tab; `generate` is the Generate tab's `GenerateTab` ("use these settings
    again" fills its inputs). Returns what the page calls with its gr.Blocks on load."""
    handlers = HistoryHandlers(service, jobs_for(service))
    with gr.Tab("History", elem_id="sonic_tab_history") as tab:
        gr.Markdown("The signed videos you made here, newest first (files stay in the outputs "
                    "folder until removed there).")
        with gr.Row():
            chooser = gr.Dropdown([], label="Your outputs", scale=4, elem_id="sonic_history")
            refresh = gr.Button("Refresh", size="sm", scale=1, min_width=100,
                                elem_id="sonic_history_refresh")
        keep_out_of_ui_config(chooser)  # a WebUI must not pre-fill someone's entry
        table = gr.Dataframe(headers=HISTORY_HEADERS, interactive=False,
                             elem_id="sonic_history_table")
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Signed video", interactive=False,
                                 elem_id="sonic_history_video")
                download = gr.File(label="Download", interactive=False,
                                   elem_id="sonic_history_download")
            with gr.Column(scale=1):
                settings = gr.HTML(elem_id="sonic_history_settings")
                verdict = gr.HTML(elem_id="sonic_history_verdict")
                with gr.Row():
                    again = gr.Button("Verify again", elem_id="sonic_history_verify")
                    reuse = gr.Button("Use these settings again", variant="primary",
                                      elem_id="sonic_history_reuse")
                note = gr.HTML(elem_id="sonic_history_note")
                report = gr.File(label="Verification report (HTML)", interactive=False,
                                 elem_id="sonic_history_report")
        listing = {"fn": handlers.listing, "inputs": chooser, "outputs": [chooser, table],
                   "api_name": False, "show_progress": "hidden"}
        refresh.click(**listing)
        tab.select(**listing)
        chooser.change(handlers.show, inputs=chooser,
                       outputs=[video, download, settings, verdict, report], api_name=False)
        again.click(handlers.verify_again, inputs=chooser, outputs=[verdict, report],
                    api_name=False)
        reuse.click(handlers.reuse, inputs=chooser,
                    outputs=[generate.purpose, generate.picker, *generate.params, note],
                    api_name=False)

    def load_with(page: gr.Blocks) -> None:
        page.load(**listing)

    return load_with
