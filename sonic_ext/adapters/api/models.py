"""Schemas of /sonic/v1: what OpenAPI documents and what responses are filtered through.

Only what pydantic 1 (A1111) and 2 (Forge, standalone) read alike: `BaseModel`, `Field` with a
description or `examples`, `typing` generics, `create_model`. Examples sit in the routes'
`responses` (plain OpenAPI), not in model config, whose spelling differs between the versions.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, Field, create_model

from ...contracts import CONSENT_VERDICTS, GenerationParams
from ...parameters import ParamSpec, param_specs
from ...verify import VERDICTS


class ErrorDetail(BaseModel):
    code: str = Field(..., description="machine-readable, e.g. consent_refused, bad_input")
    message: str = Field(..., description="what is wrong, in words")
    hint: Optional[str] = Field(None, description="what would make it work")
    field: Optional[str] = Field(None, description="the input at fault, for bad_input")
    rule: Optional[str] = Field(None, description="for consent_refused: the gate's rule, e.g. "
                                                  "not-granted, unknown-face, consent-revoked")
    audit_seq: Optional[int] = Field(None, description="for consent_refused: the audit event "
                                                       "recording the refusal")


class ErrorBody(BaseModel):
    detail: ErrorDetail


class ModelsSummary(BaseModel):
    models_dir: str
    ready: bool
    present: int
    expected: int
    test_weights: bool


class Health(BaseModel):
    """Only `status` and `version` without credentials (when API users are configured)."""

    status: str
    version: str
    home: Optional[str] = None
    models_dir: Optional[str] = None
    database: Optional[str] = None
    jobs: Optional[str] = Field(None, description="in-process, or queue (worker processes)")
    policy: Optional[str] = None
    policy_version: Optional[str] = None
    signing: Optional[str] = None
    host: Optional[str] = None
    consent_admin: Optional[str] = None
    models: Optional[ModelsSummary] = None
    capabilities: Optional[Dict[str, bool]] = None


class ModelFileState(BaseModel):
    path: str
    component: str
    state: str
    expected_size: Optional[int] = None
    found_size: Optional[int] = None
    source: str


class ModelsReport(ModelsSummary):
    files: List[ModelFileState]


def params_schema(params_class: type[GenerationParams] = GenerationParams) -> type[BaseModel]:
    """The generation parameters as a schema, from their declarations: each one's type (its
    choices as an enum), default, help text and bounds."""
    return create_model(  # type: ignore[call-overload, no-any-return]
        "GenerationParams", __module__=__name__,
        **{spec.name: _schema_field(spec) for spec in param_specs(params_class)})


def _schema_field(spec: ParamSpec) -> tuple[Any, Any]:
    kind: Any = Literal[spec.choices] if spec.choices else spec.kind  # type: ignore[valid-type]
    bounds: dict[str, Any] = {}
    if spec.low is not None:
        bounds["gt" if spec.low_open else "ge"] = spec.low
        bounds["le"] = spec.high
    if spec.multiple_of:
        bounds["multiple_of"] = spec.multiple_of
    return kind, Field(spec.default, title=spec.label, description=spec.help, **bounds)


GenerationParamsSchema = params_schema()


class Progress(BaseModel):
    stage: str = Field(..., description="check inputs, denoise, decode and encode, "
                                        "sign and publish")
    step: int
    total: int
    fraction: float
    message: str
    elapsed_s: float
    eta_s: Optional[float] = Field(None, description="seconds left in this stage, once known")


class JobResult(BaseModel):
    generation_id: str
    watermark_id: str
    consent_id: str
    sha256: str = Field(..., description="sha256 of the signed MP4")
    credentials: str = Field(..., description="development or production credentials")
    seconds: float
    file_name: str


class Job(BaseModel):
    id: str
    state: str = Field(..., description="queued, running, done, failed, cancelled, or "
                                         "interrupted (the server stopped while it ran)")
    owner: str = Field(..., description="the API user who created it; only they see it")
    purpose: str
    created_at: str
    updated_at: str
    progress: Optional[Progress] = None
    result: Optional[JobResult] = None
    error: Optional[Dict[str, Any]] = Field(None, description="the error body of a failed job")
    worker: Optional[str] = Field(None, description="queue mode: the worker that ran it last "
                                                    "(host:pid); none in-process")
    status_url: str = Field(..., description="relative to /sonic/v1/")
    video_url: Optional[str] = Field(None, description="when done: the signed MP4")
    report_url: Optional[str] = Field(None, description="when done: the HTML verify report")


class JobList(BaseModel):
    jobs: List[Job]


class Worker(BaseModel):
    name: str = Field(..., description="host:pid of the `sonic-ext worker` process")
    device: str
    started_at: str
    last_seen: str = Field(..., description="when it last reported in (every third of its "
                                            "stall timeout)")
    job_id: Optional[str] = Field(None, description="the job it runs now")
    alive: bool = Field(..., description="reported within its stall timeout; a worker that "
                                         "is not has its job run again elsewhere")


class WorkerList(BaseModel):
    jobs: str = Field(..., description="in-process, or queue (worker processes)")
    workers: List[Worker] = Field(..., description="queue mode's workers seen in the last "
                                                   "day; empty in-process")


class BatchItem(BaseModel):
    index: int = Field(..., description="its place in `items`")
    portrait: str
    audio: str
    state: str = Field(..., description="a job's state (queued, running, done, failed, "
                                         "cancelled, interrupted), or refused (the consent "
                                         "gate) or failed (bad input) when it was sent")
    job_id: Optional[str] = None
    job: Optional[Job] = Field(None, description="the item's job: progress, then its result "
                                                 "(sha256, watermark ID) and video_url")
    error: Optional[Dict[str, Any]] = Field(None, description="why it was refused or failed "
                                                              "when it was sent")


class Batch(BaseModel):
    id: str
    created_at: str
    counts: Dict[str, int] = Field(..., description="items per state")
    items: List[BatchItem]
    status_url: str = Field(..., description="relative to /sonic/v1/")


class SyncCheckResult(BaseModel):
    path: str = Field(..., description="the uploaded file's name")
    status: Literal["measured", "no_face", "no_speech"] = Field(
        ..., description="measured, or why no offset can be given")
    message: str = Field(..., description="the answer in words")
    offset_ms: Optional[int] = Field(None, description="how late the sound is against the "
                                                       "mouth, -300..300 in 20 ms steps; "
                                                       "negative: early")
    correlation: Optional[float] = Field(None, description="mouth opening against loudness "
                                                           "(Pearson r) at that offset")
    confidence: Optional[float] = Field(None, description="0-1: how far the peak stands above "
                                                          "the other offsets")
    reliable: bool = Field(False, description="correlation and confidence high enough to act "
                                              "on the offset")
    frames: int = 0
    face_frames: int = 0
    seconds: float = 0.0


class VerifyResult(BaseModel):
    path: str = Field(..., description="the uploaded file's name")
    verdict: Literal[VERDICTS] = Field(  # type: ignore[valid-type]
        ..., description="authentic, valid-untrusted, tampered, stripped-recovered (no "
                         "manifest; the watermark's generation is on record and the pictures "
                         "match its fingerprint), content-mismatch (our watermark, but not on "
                         "the pictures it was made for: copied or replaced), "
                         "stripped-unconfirmed (recorded before fingerprints: the pictures "
                         "cannot be confirmed), watermark-unknown or no-provenance")
    reasons: List[Dict[str, str]]
    c2pa: Dict[str, Any]
    watermark: Dict[str, Any]
    generation: Optional[Dict[str, Any]] = Field(None, description="the generation this file "
                                                 "is traced to (never after content-mismatch)")
    consent: Optional[Dict[str, Any]] = Field(None, description="that generation's consent as "
                                              "it stands now")
    content: Dict[str, Any] = Field(default_factory=lambda: {"checked": False},
                                    description="a stripped copy's pictures against the "
                                                "recorded fingerprint; after content-mismatch "
                                                "also named_generation and named_consent: what "
                                                "the watermark names, which this file is not")
    consent_check: Optional[Dict[str, Any]] = Field(
        None, description="from the file alone: the manifest's consent credential (verdict: "
                          f"{', '.join(CONSENT_VERDICTS)}), its issuer, what it covered, the "
                          "registry's identity assertion, and its status per this registry's "
                          "current status list; null without a manifest")


_CONSENT_STATUS = ("active, revoked, expired, not-yet-valid or superseded (an amendment "
                   "replaced it: see superseded_by)")


class Consent(BaseModel):
    id: str
    subject_id: str
    subject_name: str
    grantees: List[str] = Field(..., description="who may generate under it: any, USER (on "
                                                 "every surface) or api:USER, ui:USER, cli:USER")
    purposes: List[str]
    valid_from: str
    valid_until: Optional[str] = None
    recorded_by: str
    recorded_at: str
    evidence_sha256: str
    evidence_media_type: Optional[str] = Field(None, description="the evidence's type, judged "
                                                                 "by its content")
    supersedes: Optional[str] = Field(None, description="the consent this amendment replaced")
    superseded_by: Optional[str] = Field(None, description="the amendment that replaced it")
    revoked_at: Optional[str] = None
    revoked_by: Optional[str] = None
    revoke_reason: Optional[str] = None
    status: str = Field(..., description=_CONSENT_STATUS)
    reference_models: List[str]


class ConsentList(BaseModel):
    consents: List[Consent]


class GrantedConsent(BaseModel):
    """What an API user may see of a consent granted to them: enough to claim it."""

    id: str = Field(..., description="claim it as `consent_id` in POST /generate")
    subject_name: str
    purposes: List[str]
    valid_from: str
    valid_until: Optional[str] = None
    status: str = Field(..., description=_CONSENT_STATUS)


class GrantedConsentList(BaseModel):
    consents: List[GrantedConsent]


GRANTED_FIELDS = ("id", "subject_name", "purposes", "valid_from", "valid_until", "status")


class FaceVerdict(BaseModel):
    box: List[int] = Field(..., description="x, y, width, height in portrait pixels")
    detection_score: float
    orientation: str
    in_video: bool = Field(..., description="whether the face would be visible in the video")
    video_px: Optional[int] = Field(None, description="its short side in the model's input")
    similarity: Optional[float] = None
    best_other_similarity: Optional[float] = Field(None, description="to the closest other "
                                                                     "enrolled person")
    subject_id: Optional[str] = None
    subject_name: Optional[str] = None
    consent_id: Optional[str] = None
    rule: Optional[str] = Field(None, description="why this face may not be animated; null "
                                                  "when it passed or is not in the video")
    message: str


class GateDecision(BaseModel):
    passed: bool
    rule: Optional[str] = Field(None, description="why it was refused, e.g. not-granted, "
                                                  "unknown-face, consent-superseded")
    message: str
    hint: Optional[str] = None
    purpose: str
    actor: str = Field(..., description="the requester, e.g. api:ops")
    decided_at: str
    policy_version: str
    backend: str
    model_id: str
    threshold: float
    margin: float
    min_face_px: int
    min_visible_px: int
    image_sha256: str
    claims: List[str] = Field(..., description="the consent ids the request named")
    framing: Dict[str, Any]
    faces_found: int
    faces_checked: int
    faces: List[FaceVerdict]
    subject_id: Optional[str] = None
    subject_name: Optional[str] = None
    consent_id: Optional[str] = Field(None, description="the consent of the face to animate")
    consent_ids: List[str] = Field(..., description="every consent the video would rely on")
    similarity: Optional[float] = None
    face_box: Optional[List[int]] = None
    audit_seq: Optional[int] = Field(None, description="the audit event recording the decision")
    audit_hash: Optional[str] = None
    audit_checkpoint: Optional[str] = None


class ConsentCheck(BaseModel):
    passed: bool = Field(..., description="true: a generation with these inputs would pass the "
                                          "gate now")
    decision: GateDecision


class RefusalDetail(ErrorDetail):
    decision: GateDecision = Field(..., description="the gate's decision record, as audited")


class RefusalBody(BaseModel):
    detail: RefusalDetail


class AuditEvent(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    payload: Dict[str, Any]
    prev_hash: str
    hash: str


class ConsentDetails(Consent):
    history: List[AuditEvent] = Field(..., description="every audit event naming it, oldest "
                                                        "first")


class RevokeRequest(BaseModel):
    reason: str = Field(..., description="why, for the audit log",
                        examples=["the subject withdrew consent by e-mail on 2026-12-01"])


class ChainReport(BaseModel):
    ok: bool
    events_checked: int
    broken_seq: Optional[int] = None
    problem: Optional[str] = None
    problems: List[str] = []
    checkpoint_size: Optional[int] = None
    anchors_checked: int = 0
    key_id: Optional[str] = None


# -- examples for OpenAPI ---------------------------------------------------------------------

JOB_EXAMPLE: Dict[str, Any] = {
    "id": "3f9c2a7d51e04b6a", "state": "running", "owner": "ops", "purpose": "education",
    "created_at": "2026-12-01T10:00:00.000000Z", "updated_at": "2026-12-01T10:00:41.250000Z",
    "progress": {"stage": "denoise", "step": 12, "total": 25, "fraction": 0.48,
                 "message": "denoising", "elapsed_s": 38.2, "eta_s": 41.4},
    "result": None, "error": None, "status_url": "jobs/3f9c2a7d51e04b6a",
    "video_url": None, "report_url": None,
}
DONE_JOB_EXAMPLE: Dict[str, Any] = {
    **JOB_EXAMPLE, "state": "done", "progress": None,
    "result": {"generation_id": "gen_5d1e8a0c2b7f", "watermark_id": "a41c09e2b7d3",
               "consent_id": "con_8b2e4f6a1c3d", "sha256": "9d5e" + "0" * 60,
               "credentials": "production credentials", "seconds": 92.4,
               "file_name": "3f9c2a7d51e04b6a.mp4"},
    "video_url": "jobs/3f9c2a7d51e04b6a/video", "report_url": "jobs/3f9c2a7d51e04b6a/report",
}
BATCH_EXAMPLE: Dict[str, Any] = {
    "id": "7c1d9e2f4a6b8c0d", "created_at": "2026-12-01T10:00:00.000000Z",
    "counts": {"queued": 1, "running": 0, "done": 0, "refused": 1, "failed": 0,
               "cancelled": 0, "interrupted": 0},
    "items": [
        {"index": 0, "portrait": "lecturer.jpg", "audio": "week1-en.wav", "state": "queued",
         "job_id": "3f9c2a7d51e04b6a", "job": JOB_EXAMPLE, "error": None},
        {"index": 1, "portrait": "stranger.jpg", "audio": "week1-en.wav", "state": "refused",
         "job_id": None, "job": None,
         "error": {"code": "consent_refused", "rule": "unknown-face",
                   "message": "a face in the portrait matches no consented subject"}}],
    "status_url": "batches/7c1d9e2f4a6b8c0d"}

SYNC_CHECK_EXAMPLE: Dict[str, Any] = {
    "path": "talk.mp4", "status": "measured",
    "message": "the sound is 80 ms late (correlation 0.91, confidence 0.90)", "offset_ms": 80,
    "correlation": 0.91, "confidence": 0.9, "reliable": True, "frames": 250,
    "face_frames": 250, "seconds": 10.0}

VERIFY_EXAMPLE: Dict[str, Any] = {
    "path": "talk.mp4", "verdict": "authentic",
    "reasons": [{"code": "c2pa.trusted",
                 "text": "the manifest is intact and signed by a trusted signer"}],
    "c2pa": {"present": True, "validation_state": "Trusted", "development_credentials": False,
             "watermark_id": "a41c09e2b7d3", "failures": []},
    "watermark": {"present": True, "watermark_id": "a41c09e2b7d3", "confidence": 0.97,
                  "frames_checked": 8},
    "generation": {"id": "gen_5d1e8a0c2b7f", "consent_id": "con_8b2e4f6a1c3d",
                   "status": "published"},
    "consent": {"id": "con_8b2e4f6a1c3d", "status": "active"},
}
CONSENT_EXAMPLE: Dict[str, Any] = {
    "id": "con_8b2e4f6a1c3d", "subject_id": "sub_1a2b3c4d5e6f", "subject_name": "Ada Example",
    "grantees": ["api:ops", "ui:ops"], "purposes": ["education"],
    "valid_from": "2026-12-01T09:00:00.000000Z", "valid_until": "2027-12-01T00:00:00.000000Z",
    "recorded_by": "api:ops", "recorded_at": "2026-12-01T09:00:00.000000Z",
    "evidence_sha256": "4c1f" + "0" * 60, "evidence_media_type": "application/pdf",
    "supersedes": None, "superseded_by": None,
    "revoked_at": None, "revoked_by": None, "revoke_reason": None, "status": "active",
    "reference_models": ["dlib/face_recognition_resnet_model_v1"],
}
AMENDED_EXAMPLE: Dict[str, Any] = {
    **CONSENT_EXAMPLE, "id": "con_2d7a9e1b4f60", "grantees": ["api:ops"],
    "valid_from": "2027-01-15T09:00:00.000000Z", "recorded_at": "2027-01-15T09:00:00.000000Z",
    "supersedes": "con_8b2e4f6a1c3d",
}
GRANTED_EXAMPLE: Dict[str, Any] = {key: CONSENT_EXAMPLE[key] for key in GRANTED_FIELDS}
DECISION_EXAMPLE: Dict[str, Any] = {
    "passed": True, "rule": None,
    "message": "1 face(s) in the video verified; animating Ada Example (similarity 0.961, "
               "consent con_8b2e4f6a1c3d)",
    "hint": None, "purpose": "education", "actor": "api:ops",
    "decided_at": "2026-12-01T10:00:00.000000Z", "policy_version": "default-2026.12",
    "backend": "dlib", "model_id": "dlib/face_recognition_resnet_model_v1", "threshold": 0.93,
    "margin": 0.02, "min_face_px": 64, "min_visible_px": 32, "image_sha256": "b7e2" + "0" * 60,
    "claims": ["con_8b2e4f6a1c3d"],
    "framing": {"crop": True, "expand_ratio": 0.5, "min_resolution": 512},
    "faces_found": 1, "faces_checked": 1,
    "faces": [{"box": [212, 148, 236, 236], "detection_score": 0.998, "orientation": "upright",
               "in_video": True, "video_px": 201, "similarity": 0.961,
               "best_other_similarity": 0.827, "subject_id": "sub_1a2b3c4d5e6f",
               "subject_name": "Ada Example", "consent_id": "con_8b2e4f6a1c3d", "rule": None,
               "message": "the face at [212, 148, 236, 236] is Ada Example (similarity 0.961), "
                          "consent con_8b2e4f6a1c3d"}],
    "subject_id": "sub_1a2b3c4d5e6f", "subject_name": "Ada Example",
    "consent_id": "con_8b2e4f6a1c3d", "consent_ids": ["con_8b2e4f6a1c3d"], "similarity": 0.961,
    "face_box": [212, 148, 236, 236], "audit_seq": 43, "audit_hash": "5a0e" + "0" * 60,
}
_NOT_GRANTED = {
    "rule": "not-granted", "message": "consent con_8b2e4f6a1c3d (Ada Example) is not granted "
                                      "to api:qa",
    "hint": "an admin adds you to its grantees (`sonic-ext consent amend con_8b2e4f6a1c3d "
            "--grantee USER`)"}
REFUSED_DECISION_EXAMPLE: Dict[str, Any] = {
    **DECISION_EXAMPLE, **_NOT_GRANTED, "passed": False, "actor": "api:qa", "faces": [],
    "faces_checked": 0, "subject_id": None, "subject_name": None, "consent_id": None,
    "consent_ids": [], "similarity": None, "face_box": None,
}
CHECK_EXAMPLE: Dict[str, Any] = {"passed": True, "decision": DECISION_EXAMPLE}
CHECK_REFUSED_EXAMPLE: Dict[str, Any] = {"detail": {
    "code": "consent_refused", **_NOT_GRANTED, "audit_seq": 43,
    "decision": REFUSED_DECISION_EXAMPLE}}
CONSENT_DETAILS_EXAMPLE: Dict[str, Any] = {
    **CONSENT_EXAMPLE,
    "history": [{"seq": 7, "at": "2026-12-01T09:00:00.000000Z", "actor": "api:ops",
                 "action": "consent.add", "payload": {"consent_id": "con_8b2e4f6a1c3d"},
                 "prev_hash": "77ab" + "0" * 60, "hash": "e01c" + "0" * 60}],
}
CHAIN_EXAMPLE: Dict[str, Any] = {"ok": True, "events_checked": 42, "broken_seq": None,
                                 "problem": None, "problems": [], "checkpoint_size": 42,
                                 "anchors_checked": 1, "key_id": "5e1c0a2b9d4f7e31"}
ERROR_EXAMPLES: Dict[int, Dict[str, Any]] = {
    401: {"detail": "valid HTTP Basic credentials required"},
    403: {"detail": {"code": "consent_refused", **_NOT_GRANTED, "audit_seq": 43}},
    404: {"detail": {"code": "not_found", "message": "job_id: no job '3f9c2a7d51e04b6a'"}},
    409: {"detail": {"code": "not_ready", "message": "job 3f9c2a7d51e04b6a is running"}},
    413: {"detail": {"code": "too_large", "message": "image: over 20,971,520 bytes",
                     "field": "image"}},
    422: {"detail": {"code": "bad_input", "message": "steps: must be between 1 and 100, got 0",
                     "field": "steps"}},
}
_ERROR_WORDS = {
    401: "no or wrong HTTP Basic credentials (when the host has API users)",
    403: "refused by the consent gate (`rule` says why), or a consent change without a valid "
         "admin token",
    404: "no such job or consent (or not yours)",
    409: "conflict: not finished yet, finished already, revoked already, or a consent no "
         "longer in force",
    413: "an upload or the whole request is over its size limit",
    422: "bad input; `field` names it (FastAPI's own checks answer with a list as `detail`)",
}


def example(model: type[BaseModel] | None, value: Any, description: str) -> Dict[str, Any]:
    """One entry of a route's `responses`: the schema plus an example body."""
    entry: Dict[str, Any] = {"description": description,
                             "content": {"application/json": {"example": value}}}
    if model is not None:
        entry["model"] = model
    return entry


def error_responses(*statuses: int) -> Dict[int | str, Dict[str, Any]]:
    """The error responses a route can give, each with an example body."""
    return {status: example(None if status == 401 else ErrorBody, ERROR_EXAMPLES[status],
                            _ERROR_WORDS[status]) for status in statuses}
