"""The caller's jobs: list, state with progress, cancel, the signed video and its verify report.

A job is visible only to the user who created it; for anyone else it does not exist (404).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse

from ...service import SonicService
from ..jobs import Job, Jobs
from .errors import http_error
from .models import (
    DONE_JOB_EXAMPLE,
    JOB_EXAMPLE,
    JobList,
    WorkerList,
    error_responses,
    example,
)
from .models import Job as JobSchema
from .uploads import SMALL_BODY_BYTES, api_route


def job_view(job: Job) -> Dict[str, Any]:
    """A job as the API shows it: no server paths, links relative to /sonic/v1/."""
    view = job.to_dict()
    done = job.state == "done" and job.result is not None
    if job.result is not None:
        view["result"] = {**view["result"], "file_name": job.result.out.name}
    return {**view, "status_url": f"jobs/{job.id}",
            "video_url": f"jobs/{job.id}/video" if done else None,
            "report_url": f"jobs/{job.id}/report" if done else None}


def add_job_routes(router: APIRouter, service: SonicService, jobs: Jobs,
                   require_user: Any) -> None:
    routes = APIRouter(route_class=api_route(SMALL_BODY_BYTES), tags=["jobs"])

    def owned(job_id: str, user: str) -> Job:
        return jobs.get(job_id, user)

    def finished_video(job_id: str, user: str) -> Path:
        job = owned(job_id, user)
        if job.state != "done" or job.result is None:
            raise http_error(409, "not_ready", f"job {job.id} is {job.state}", state=job.state)
        if job.result.out.is_symlink() or not job.result.out.is_file():  # never followed
            raise http_error(404, "not_found", f"the video of job {job.id} is no longer on "
                                               "the server")
        return job.result.out

    @routes.get("/jobs", response_model=JobList, summary="Your jobs, newest first",
                responses={200: example(JobList, {"jobs": [DONE_JOB_EXAMPLE]}, "your jobs"),
                           **error_responses(401)})
    def list_jobs(user: str = Depends(require_user)) -> Dict[str, Any]:
        return {"jobs": [job_view(job) for job in jobs.of_owner(user)]}

    @routes.get("/workers", response_model=WorkerList, summary="The workers running jobs",
                description="Queue mode: each `sonic-ext worker` seen in the last day, whether "
                            "it is alive and which job it runs. In-process: none.",
                dependencies=[Depends(require_user)], responses=error_responses(401))
    def workers() -> Dict[str, Any]:
        return {"jobs": "queue" if service.settings.queue_url else "in-process",
                "workers": jobs.workers()}

    @routes.get("/jobs/{job_id}", response_model=JobSchema,
                summary="State, progress (step, total, ETA) and result of a job",
                responses={200: example(JobSchema, JOB_EXAMPLE, "the job"),
                           **error_responses(401, 404)})
    def job_state(job_id: str, user: str = Depends(require_user)) -> Dict[str, Any]:
        return job_view(owned(job_id, user))

    @routes.delete("/jobs/{job_id}", response_model=JobSchema, summary="Cancel a job",
                   description="Stops a queued or running job at its next check; nothing is "
                               "published. 409 when the job has ended already.",
                   responses={200: example(JobSchema, {**JOB_EXAMPLE, "state": "running"},
                                           "the job; its state turns `cancelled` shortly"),
                              **error_responses(401, 404, 409)})
    def cancel(job_id: str, user: str = Depends(require_user)) -> Dict[str, Any]:
        return job_view(jobs.cancel(job_id, user))

    @routes.get("/jobs/{job_id}/video", response_class=FileResponse,
                summary="The signed MP4 of a finished job",
                responses={200: {"content": {"video/mp4": {}},
                                 "description": "the MP4, C2PA-signed and watermarked"},
                           **error_responses(401, 404, 409)})
    def video(job_id: str, user: str = Depends(require_user)) -> FileResponse:
        path = finished_video(job_id, user)
        return FileResponse(path, media_type="video/mp4", filename=path.name)

    @routes.get("/jobs/{job_id}/report", response_class=HTMLResponse,
                summary="The verify report of a finished job's video (HTML)",
                description="Verifies the file on the server now (C2PA, watermark, records) "
                            "and returns the self-contained HTML report an auditor reads.",
                responses={200: {"content": {"text/html": {}},
                                 "description": "the report, one self-contained page"},
                           **error_responses(401, 404, 409)})
    def report(job_id: str, user: str = Depends(require_user)) -> HTMLResponse:
        path = finished_video(job_id, user)
        folder = Path(tempfile.mkdtemp(prefix="sonic-report-"))
        try:
            written = service.write_verify_report(service.verify(path),
                                                  folder / f"{job_id}.html")
            return HTMLResponse(written.read_text(encoding="utf-8"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    router.include_router(routes)
