"""The Generate tab's Batch section: the portrait above with many speech clips, one signed
video per clip.

Each clip is its own generation through the same `service.prepare` as a single one (inputs
checked, consent gate passed, audited), so a refused or bad clip is reported in its row at once
and the others become jobs of the one worker (the models load once). The table then follows
the jobs until none is queued or running; each finished video is in History too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ...errors import ConsentRefused, SonicError
from ...service import SonicService
from ...text import without_server_paths
from ..jobs import ACTIVE_STATES, Job, Jobs, jobs_for, new_job_id
from .compat import upload_path
from .granted import requester
from .job_view import POLL_S

BATCH_HEADERS = ["Speech clip", "State", "Video", "Watermark ID or why not"]
MAX_CLIPS = 50


@dataclass
class BatchRow:
    clip: str
    state: str = "queued"
    error: str = ""
    job: Job | None = None

    def cells(self) -> list[str]:
        job = self.job
        if job is None:
            return [self.clip, self.state, "", self.error]
        video = job.result.out.name if job.result is not None else ""
        detail = job.result.watermark_id if job.result is not None else \
            str((job.error or {}).get("message", ""))
        return [self.clip, job.state, video, without_server_paths(detail)]


class BatchHandlers:
    def __init__(self, service: SonicService, jobs: Jobs | None = None) -> None:
        self.service = service
        self.jobs = jobs or jobs_for(service)

    def run(self, request: gr.Request, image: Any, clips: Any, purpose: str | None,
            *values: Any) -> Iterator[list[list[str]]]:
        """Stream the table: each clip's row as it is checked, then as its job runs and ends.
        `values`: the parameter inputs in PARAM_ORDER, then the consents picked."""
        from .generate import PARAM_ORDER, generation_request

        params, consents = dict(zip(PARAM_ORDER, values)), values[len(PARAM_ORDER)]
        owner = requester(request)
        portrait = upload_path(image)
        paths = [path for path in (upload_path(clip) for clip in clips or []) if path]
        if portrait is None or not paths:
            raise gr.Error("Upload a portrait above and the speech clips to animate first.")
        if len(paths) > MAX_CLIPS:
            raise gr.Error(f"At most {MAX_CLIPS} clips in one batch; {len(paths)} were added.")
        rows = []
        for path in paths:
            row = BatchRow(Path(path).name)
            try:
                prepared = self.service.prepare(generation_request(
                    self.service, portrait, path, purpose, params, consents, owner))
            except SonicError as exc:
                row.state = "refused" if isinstance(exc, ConsentRefused) else "failed"
                row.error = without_server_paths(str(exc))
            else:
                row.job = self.jobs.submit(new_job_id(), prepared, owner)
            rows.append(row)
            yield [r.cells() for r in rows]
        shown = [r.cells() for r in rows]
        while any(r.job is not None and r.job.state in ACTIVE_STATES for r in rows):
            time.sleep(POLL_S)
            if (table := [r.cells() for r in rows]) != shown:  # only what changed is sent
                shown = table
                yield table
