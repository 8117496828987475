"""POST /verify: the auditor's verdict for an uploaded file; POST /sync-check: how far its sound
is ahead of or behind its mouth (files only by upload)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Dict, TypeVar

from fastapi import APIRouter, Depends, File, UploadFile

from ...service import SonicService
from .models import (
    SYNC_CHECK_EXAMPLE,
    VERIFY_EXAMPLE,
    SyncCheckResult,
    VerifyResult,
    error_responses,
    example,
)
from .uploads import FORM_SLACK_BYTES, api_route, save_upload

MAX_VERIFY_BYTES = 2 * 1024 * 1024 * 1024
T = TypeVar("T")


def add_verify_route(router: APIRouter, service: SonicService, require_user: Any) -> None:
    routes = APIRouter(route_class=api_route(MAX_VERIFY_BYTES + FORM_SLACK_BYTES),
                       tags=["verify"])

    @routes.post("/verify", response_model=VerifyResult,
                 summary="Verdict, C2PA and watermark findings for one file",
                 description="For a watermarked file whose manifest was stripped, the "
                             "watermark leads to the generation and consent on record.",
                 responses={200: example(VerifyResult, VERIFY_EXAMPLE, "the verdict"),
                            **error_responses(401, 413, 422)})
    def verify(file: UploadFile = File(..., description="MP4/MOV, JPEG/PNG or WAV/MP3, at "
                                                        "most 2 GB"),
               _user: str = Depends(require_user)) -> Dict[str, Any]:
        report = _on_upload(file, "sonic-verify-", service.verify)
        return {**report.to_dict(), "path": file.filename or "upload"}

    @routes.post("/sync-check", response_model=SyncCheckResult,
                 summary="The audio/video offset of a talking-head video",
                 description="Mouth opening per frame (dlib's 68 landmarks) against the "
                             "speech's loudness, at offsets from -300 to +300 ms; no face or "
                             "no speech are answers (status), not numbers. Any video, ours or "
                             "not; its first two minutes are measured.",
                 responses={200: example(SyncCheckResult, SYNC_CHECK_EXAMPLE, "the offset"),
                            **error_responses(401, 413, 422)})
    def sync_check(file: UploadFile = File(..., description="a video with sound (MP4, MOV, "
                                                            "WEBM, MKV), at most 2 GB"),
                   _user: str = Depends(require_user)) -> Dict[str, Any]:
        check = _on_upload(file, "sonic-sync-", service.sync_check)
        return {**check.to_dict(), "path": file.filename or "upload"}

    router.include_router(routes)


def _on_upload(file: UploadFile, prefix: str, use: Callable[[Path], T]) -> T:
    """`use` on the upload, saved in a private temporary folder that is removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return use(save_upload(file, folder / "upload", MAX_VERIFY_BYTES, "file"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
