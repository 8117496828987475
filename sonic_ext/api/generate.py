"""POST /generate and the job routes: uploads in, a job out, the signed video when done.

Files arrive only as uploads (never as server paths). The inputs and the consent gate are
checked before the job is queued, so a refusal is a 403 at once and nothing is queued for it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from ..errors import InputError, SonicError
from ..jobs import JobManager, new_job_id
from ..requests import GenerateRequest, GenerationParams
from ..service import SonicService

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_AUDIO_BYTES = 200 * 1024 * 1024
_CHUNK = 1024 * 1024


def error_response(exc: SonicError) -> HTTPException:
    return HTTPException(exc.http_status, detail=exc.to_dict())


def save_upload(upload: UploadFile, target: Path, limit: int, field: str) -> Path:
    """Copy an upload to `target`, refusing (413) anything over `limit` bytes."""
    suffix = Path(upload.filename or "").suffix.lower()[:8]
    path = target.with_suffix(suffix)
    written = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise HTTPException(413, detail={"code": "too_large", "field": field,
                                                 "message": f"{field}: over {limit:,} bytes"})
            out.write(chunk)
    return path


def parse_params(text: str) -> GenerationParams:
    try:
        values = json.loads(text or "{}")
        if not isinstance(values, dict):
            raise TypeError("an object was expected")
        return GenerationParams(**values)
    except (ValueError, TypeError) as exc:
        raise error_response(InputError("params", f"not a JSON object of generation "
                                                  f"parameters: {exc}")) from None


def add_generate_routes(router: APIRouter, service: SonicService, jobs: JobManager,
                        require_user: Any) -> None:
    @router.post("/generate", status_code=202, summary="Start a generation (upload both files)")
    def generate(image: UploadFile = File(..., description="portrait (JPEG, PNG, WEBP, BMP)"),
                 audio: UploadFile = File(..., description="speech (WAV, MP3, FLAC, M4A)"),
                 purpose: str = Form("general"),
                 params: str = Form("{}", description='e.g. {"seed": 0, "steps": 25}'),
                 user: str = Depends(require_user)) -> Dict[str, Any]:
        job_id = new_job_id()
        folder = service.settings.home / "uploads" / job_id
        folder.mkdir(parents=True)
        try:
            request = GenerateRequest(
                image=save_upload(image, folder / "portrait", MAX_IMAGE_BYTES, "image"),
                audio=save_upload(audio, folder / "audio", MAX_AUDIO_BYTES, "audio"),
                out=service.settings.outputs_dir / f"{job_id}.mp4", purpose=purpose,
                params=parse_params(params), requested_by=f"api:{user}")
            prepared = service.prepare(request)
        except SonicError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise error_response(exc) from None
        except HTTPException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = jobs.submit(job_id, prepared)
        return {**job.to_dict(), "status_url": f"jobs/{job.id}"}

    @router.get("/jobs/{job_id}", summary="State, progress and result of a job")
    def job_state(job_id: str, _user: str = Depends(require_user)) -> Dict[str, Any]:
        return _job(jobs, job_id).to_dict()

    @router.delete("/jobs/{job_id}", summary="Cancel a job")
    def cancel(job_id: str, _user: str = Depends(require_user)) -> Dict[str, Any]:
        _job(jobs, job_id)
        return jobs.cancel(job_id).to_dict()

    @router.get("/jobs/{job_id}/video", summary="The signed MP4 of a finished job",
                response_class=FileResponse)
    def video(job_id: str, _user: str = Depends(require_user)) -> Any:
        job = _job(jobs, job_id)
        if job.state != "done" or job.result is None:
            return JSONResponse({"error": {"code": "not_ready", "state": job.state}}, 409)
        return FileResponse(job.result.out, media_type="video/mp4",
                            filename=job.result.out.name)


def _job(jobs: JobManager, job_id: str):  # noqa: ANN202 - Job
    try:
        return jobs.get(job_id)
    except InputError:
        raise HTTPException(404, detail={"code": "not_found",
                                         "message": f"no job {job_id!r}"}) from None
