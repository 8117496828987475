"""A generation job as the Generate tab shows it: followed while it runs, its outcome after.

A UI generation is a job of the same manager as the API's (`jobs_for`: one worker per
installation and a record under `<home>/jobs/`, or queue mode's workers and rows), owned by the page's user (`ui:<name>`). The page only watches it:
a reload, a second tab or a closed browser leaves it running, and the page opened next picks it
up (`latest_job`). Stopping it takes the Cancel button.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import gradio as gr

from ...errors import SonicError
from ...service import SonicService
from ..jobs import ACTIVE_STATES, Job, Jobs
from .compat import shown_inline
from .errors import job_error, ui_error
from .render import notice_html, progress_html, provenance_html
from .verify import verify_with_report

POLL_S = 0.5
SHOW_ENDED_FOR_S = 600  # a page opened this long after its user's last job ended still shows it

# (job id, status, video, provenance summary, report file): the Generate tab's outputs
Outputs = tuple[Any, Any, Any, Any, Any]


def latest_job(jobs: Jobs, owner: str, now: float | None = None) -> Job | None:
    """The owner's newest job if it is still going or ended in the last SHOW_ENDED_FOR_S."""
    owned = jobs.of_owner(owner)
    if not owned:
        return None
    job = owned[0]
    if job.state in ACTIVE_STATES:
        return job
    ended = datetime.strptime(job.updated_at or job.created_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    age = (now if now is not None else time.time()) - \
        ended.replace(tzinfo=timezone.utc).timestamp()
    return job if age <= SHOW_ENDED_FOR_S else None


def follow(service: SonicService, job: Job, *, raise_failure: bool) -> Iterator[Outputs]:
    """Yield the job's progress every POLL_S while it runs, then its outcome: the signed video
    with its verification, or why there is none. A failure is raised as well (inline only)
    when `raise_failure`, so a call through gradio's API ends in that error."""
    while job.state in ACTIVE_STATES:
        yield job.id, running_html(job), gr.update(), gr.update(), gr.update()
        time.sleep(POLL_S)
    if job.state == "done" and job.result is not None:
        out = job.published_video()
        if out is None:
            yield job.id, notice_html("error", f"{job.result.out.name} is no longer in the "
                                               "outputs folder."), None, "", None
            return
        yield job.id, progress_html(None, "Verifying the output"), gr.update(), \
            gr.update(), gr.update()
        try:
            report, report_path = verify_with_report(service, out)
        except SonicError as exc:  # published and signed; only reading it back failed
            yield job.id, notice_html("error", f"{out.name} was published, but verifying it "
                                               f"failed: {ui_error(exc).message}"), \
                str(out), "", None
            return
        yield (job.id, notice_html("done", f"Done in {job.result.seconds:.1f} s: {out.name}"),
               str(out), provenance_html(job.result, report), str(report_path))
        return
    if job.state == "cancelled":
        yield job.id, notice_html("cancelled", "Cancelled: nothing was written."), None, "", None
        return
    error = job_error(job.error)
    yield job.id, notice_html("error", str(error.message)), None, "", None
    if raise_failure:
        raise shown_inline(error)


def running_html(job: Job) -> str:
    """Progress, and which files the run animates (a reloaded page has no uploads to show)."""
    if job.cancel.cancelled:
        return notice_html("cancelling", "Cancelling after the current step…")
    if job.state == "queued":
        shown = progress_html(None, "Waiting for the generation before it to finish")
    else:
        shown = progress_html(job.progress)
    if job.request is None:
        return shown
    inputs = f"Animating {job.request.image.name} with {job.request.audio.name}"
    return f"{shown}<div class='sonic-job-inputs'>{html.escape(inputs)}</div>"
