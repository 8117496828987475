"""POST /generate: two uploads in, a job out; GET /params: the parameters and their defaults;
GET /presets: the named sets of them.

Files arrive only as uploads (never as server paths). The inputs and the consent gate are
checked before the job is queued, so a refusal is a 403 at once and nothing is queued for it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile

from ...consent.fields import split_labels
from ...consent.grantees import actor
from ...contracts import GenerateRequest, GenerationParams
from ...errors import InputError
from ...presets import all_presets, resolve
from ...service import SonicService
from ..jobs import Jobs, new_job_id
from .errors import error_response
from .job_routes import job_view
from .models import JOB_EXAMPLE, GenerationParamsSchema, Job, error_responses, example
from .uploads import (
    FORM_SLACK_BYTES,
    MAX_AUDIO_BYTES,
    MAX_IMAGE_BYTES,
    NESTED_TOO_DEEP,
    SMALL_BODY_BYTES,
    api_route,
    save_upload,
)

PARAMS_TEXT = ("a JSON object of generation parameters; omitted ones keep their defaults "
                "(the GenerationParams schema, GET /params)")
PRESET_TEXT = ("start from a named set of parameters (GET /presets): fast, standard (the "
               "official defaults), quality or one of this deployment's; `params` set their "
               "values over it")
CONSENT_ID_TEXT = ("the consent this relies on, one per person shown: repeat the field or give a "
                   "comma list (GET /consents/granted lists the consents granted to you)")


def params_object(value: Any, field: str = "params") -> dict[str, Any]:
    """A `params` value (JSON text, or an object already parsed) as a dict of known
    generation parameters; InputError naming `field` otherwise."""
    try:
        values = json.loads(value or "{}") if isinstance(value, str) else value
        if not isinstance(values, dict):
            raise TypeError("an object was expected")
        unknown = set(values) - set(GenerationParams.field_names())
        if unknown:
            raise TypeError(f"unknown parameter {sorted(unknown)[0]!r}")
    except (ValueError, TypeError) as exc:
        raise InputError(field, f"not a JSON object of generation parameters: {exc}") from None
    except RecursionError:
        raise InputError(field, NESTED_TOO_DEEP) from None
    return values


def parse_params(text: str, preset: Optional[str] = None,
                 deployment: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
                 ) -> GenerationParams:
    """The `params` field over the preset's values (`presets.resolve`; none: the defaults)."""
    try:
        values = params_object(text)
    except InputError as exc:
        raise error_response(exc) from None
    return resolve(preset, values, deployment)


def add_generate_routes(router: APIRouter, service: SonicService, jobs: Jobs,
                        require_user: Any) -> None:
    uploads = APIRouter(route_class=api_route(MAX_IMAGE_BYTES + MAX_AUDIO_BYTES +
                                                 FORM_SLACK_BYTES), tags=["generate"])
    small = APIRouter(route_class=api_route(SMALL_BODY_BYTES), tags=["generate"])

    @uploads.post(
        "/generate", status_code=202, response_model=Job,
        summary="Start a generation (upload a portrait and a speech clip)",
        description="Checks the inputs and the consent gate at once, then queues a job; poll "
                    "`status_url`. Name the consent of each person shown (`consent_id`, "
                    "GET /consents/granted lists yours): 403 with the gate's `rule` when a "
                    "face is not verified as a claimed subject, or a claimed consent is not in "
                    "force, does not cover the purpose or is not granted to you; 422 without "
                    "a `consent_id`.",
        responses={202: example(Job, JOB_EXAMPLE, "the job, queued"),
                   **error_responses(401, 403, 413, 422)},
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
            "purpose": "education", "consent_id": ["con_8b2e4f6a1c3d"],
            "params": '{"seed": 0, "steps": 25}'}}}}})
    def generate(image: UploadFile = File(..., description="portrait (JPEG, PNG, WEBP, BMP), "
                                                           "at most 20 MB"),
                 audio: UploadFile = File(..., description="speech (WAV, MP3, FLAC, M4A), "
                                                           "at most 200 MB"),
                 purpose: str = Form("general", description="what the video is for; the "
                                                            "consent must cover it"),
                 consent_id: List[str] = Form([], description=CONSENT_ID_TEXT),
                 params: str = Form("{}", description=PARAMS_TEXT),
                 preset: Optional[str] = Form(None, description=PRESET_TEXT),
                 user: str = Depends(require_user)) -> Dict[str, Any]:
        job_id = new_job_id()
        folder = jobs.uploads_for(job_id)
        folder.mkdir(mode=0o700, parents=True)
        try:
            request = GenerateRequest(
                image=save_upload(image, folder / "portrait", MAX_IMAGE_BYTES, "image"),
                audio=save_upload(audio, folder / "audio", MAX_AUDIO_BYTES, "audio"),
                out=service.settings.outputs_dir / f"{job_id}.mp4", purpose=purpose,
                params=parse_params(params, preset, service.policy.presets),
                requested_by=actor("api", user),
                consent_ids=tuple(split_labels(consent_id)))
            prepared = service.prepare(request)
        except BaseException:  # the route class maps a SonicError; the uploads go either way
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job_view(jobs.submit(job_id, prepared, owner=user))

    @small.get("/params", response_model=GenerationParamsSchema,
               summary="Generation parameters with their defaults",
               description="The `params` of POST /generate; each field's description says "
                           "what it does.", dependencies=[Depends(require_user)],
               responses=error_responses(401))
    def params() -> Dict[str, Any]:
        return GenerationParams().to_dict()

    @small.get("/presets", response_model=Dict[str, GenerationParamsSchema],
               summary="The presets and the parameters each sets",
               description="Each `preset` of POST /generate with its full parameters: the "
                           "built-in fast, standard (the official defaults) and quality, and "
                           "this deployment's own (its policy file).",
               dependencies=[Depends(require_user)], responses=error_responses(401))
    def presets() -> Dict[str, Any]:
        return {name: resolve(name, {}, service.policy.presets).to_dict()
                for name in all_presets(service.policy.presets)}

    router.include_router(uploads)
    router.include_router(small)
