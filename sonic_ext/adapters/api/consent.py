"""Consent over HTTP: what an API user may rely on, and the administration of consents.

Any API user may list the consents granted to them (`/consents/granted`) and dry-run the gate
(`/consents/check`, audited like a generation's check). Every other route, enrol, amend, list,
show, revoke and the audit chain, also needs the installation's admin token
(`X-Sonic-Admin-Token`); without a configured token they answer 403, so a host that never set
one cannot change consent over HTTP. Portraits and evidence arrive only as uploads, go to a
private temporary folder, and are gone when the request ends: the registry keeps its own copy of
the evidence.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile

from ...consent.fields import (
    NO_EXPIRY,
    parse_amended_expiry,
    parse_expiry,
    split_labels,
)
from ...consent.grantees import actor
from ...errors import InputError
from ...service import SonicService
from .auth import admin_dependency
from .generate import CONSENT_ID_TEXT, PARAMS_TEXT, parse_params
from .models import (
    AMENDED_EXAMPLE,
    CHAIN_EXAMPLE,
    CHECK_EXAMPLE,
    CHECK_REFUSED_EXAMPLE,
    CONSENT_DETAILS_EXAMPLE,
    CONSENT_EXAMPLE,
    GRANTED_EXAMPLE,
    GRANTED_FIELDS,
    ChainReport,
    Consent,
    ConsentCheck,
    ConsentDetails,
    ConsentList,
    GrantedConsentList,
    RefusalBody,
    RevokeRequest,
    error_responses,
    example,
)
from .uploads import (
    FORM_SLACK_BYTES,
    MAX_EVIDENCE_BYTES,
    MAX_IMAGE_BYTES,
    SMALL_BODY_BYTES,
    api_route,
    save_upload,
)

MAX_PORTRAITS = 10
_GRANTEES_TEXT = ("who may generate under it: a user (`alice`, on every surface), one surface's "
                  "user (`api:alice`, `ui:alice`, `cli:alice`) or `any` (every user of this "
                  "installation, only when given explicitly); repeat the field or give a comma "
                  "list")
_EVIDENCE_TEXT = ("signed release or recording, 512 bytes to 200 MB, judged by content: PDF, "
                  "image, audio, video or signed text (OpenPGP, S/MIME)")


def _granted_view(record: Dict[str, Any]) -> Dict[str, Any]:
    """A consent as a non-admin sees it: no evidence, no server paths, no other grantees."""
    return {key: record[key] for key in GRANTED_FIELDS}


def add_consent_routes(router: APIRouter, service: SonicService, require_user: Any) -> None:
    uploads = APIRouter(route_class=api_route(MAX_PORTRAITS * MAX_IMAGE_BYTES +
                                                 MAX_EVIDENCE_BYTES + FORM_SLACK_BYTES),
                        tags=["consent"])
    amends = APIRouter(route_class=api_route(MAX_EVIDENCE_BYTES + FORM_SLACK_BYTES),
                       tags=["consent"])
    checks = APIRouter(route_class=api_route(MAX_IMAGE_BYTES + FORM_SLACK_BYTES),
                       tags=["consent"])
    small = APIRouter(route_class=api_route(SMALL_BODY_BYTES), tags=["consent"])
    require_admin = admin_dependency(service)

    def existing(consent_id: str) -> Dict[str, Any]:
        return service.show_consent(consent_id).to_dict()  # unknown: NotFound, 404

    @uploads.post(
        "/consents", status_code=201, response_model=Consent,
        summary="Record a consent and enrol the person's face",
        description="Each portrait must show exactly one face, all of the same person. The "
                    "evidence (a signed release, a recording) is stored with its sha256. "
                    "`grantees` say who may generate under it. A person enrolled already is "
                    "recorded again only as a renewal: give their `subject_id` (then `name` "
                    "may be left out), e.g. after a revocation or an expiry.",
        responses={201: example(Consent, CONSENT_EXAMPLE, "the consent, active"),
                   **error_responses(401, 403, 404, 413, 422)},
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
            "name": "Ada Example", "purposes": ["education", "training"],
            "grantees": ["api:ops", "ui:ops"], "expires": "2027-12-01"}}}}})
    def add_consent(
            name: Optional[str] = Form(None, description="the person's name; may be left out "
                                                         "with `subject_id`"),
            purposes: List[str] = Form(..., description="what they agreed to: repeat the field "
                                                        "or give a comma list"),
            grantees: List[str] = Form([], description=f"required: {_GRANTEES_TEXT}"),
            expires: Optional[str] = Form(None, description="ISO-8601 end (UTC when no zone); "
                                                            "omitted: no end"),
            subject_id: Optional[str] = Form(None, description="renew the consent of this "
                                                               "enrolled person (a `subject_id` "
                                                               "of GET /consents); the "
                                                               "portraits must show them"),
            portraits: List[UploadFile] = File(..., description=f"1 to {MAX_PORTRAITS} photos "
                                                                "of the person, 20 MB each"),
            evidence: UploadFile = File(..., description=_EVIDENCE_TEXT),
            user: str = Depends(require_user), _admin: None = Depends(require_admin),
    ) -> Dict[str, Any]:
        folder = Path(tempfile.mkdtemp(prefix="sonic-consent-"))
        try:
            if len(portraits) > MAX_PORTRAITS:
                raise InputError("portraits", f"{len(portraits)} files; at most "
                                              f"{MAX_PORTRAITS} per consent")
            saved = [save_upload(p, folder / f"portrait-{i}", MAX_IMAGE_BYTES, "portraits")
                     for i, p in enumerate(portraits)]
            proof = save_upload(evidence, folder / "evidence", MAX_EVIDENCE_BYTES, "evidence")
            record = service.add_consent(name, saved, proof, split_labels(purposes),
                                         parse_expiry(expires), actor("api", user),
                                         grantees=split_labels(grantees),
                                         subject_id=(subject_id or "").strip() or None)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return record.to_dict()

    @checks.post(
        "/consents/check", response_model=ConsentCheck,
        summary="Would the consent gate pass? A dry run of POST /generate's check",
        description="The gate's decision for this portrait, purpose and claimed consents, as a "
                    "generation would get it now, written to the audit log like one; nothing "
                    "is generated and the upload is gone when the request ends. 200 when it "
                    "would pass, 403 with the decision (under `detail.decision`) when not.",
        responses={200: example(ConsentCheck, CHECK_EXAMPLE, "the gate would pass"),
                   403: example(RefusalBody, CHECK_REFUSED_EXAMPLE,
                                "the gate would refuse: why (`rule`), with its decision"),
                   **error_responses(401, 413, 422)},
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
            "purpose": "education", "consent_id": ["con_8b2e4f6a1c3d"],
            "params": '{"min_resolution": 512}'}}}}})
    def check_consent(
            image: UploadFile = File(..., description="portrait (JPEG, PNG, WEBP, BMP), at "
                                                      "most 20 MB"),
            consent_id: List[str] = Form([], description=CONSENT_ID_TEXT),
            purpose: str = Form("general", description="what the video would be for"),
            params: str = Form("{}", description=f"{PARAMS_TEXT}; they decide which pixels "
                                                 "the model would see"),
            user: str = Depends(require_user),
    ) -> Dict[str, Any]:
        folder = Path(tempfile.mkdtemp(prefix="sonic-check-"))
        try:
            portrait = save_upload(image, folder / "portrait", MAX_IMAGE_BYTES, "image")
            decision = service.check_consent(portrait, purpose, actor("api", user),
                                             split_labels(consent_id), parse_params(params))
        finally:  # a refusal (GateRefused) reaches the client with its decision record
            shutil.rmtree(folder, ignore_errors=True)
        return {"passed": decision.passed, "decision": decision.to_dict()}

    @amends.post(
        "/consents/{consent_id}/amend", status_code=201, response_model=Consent,
        summary="Amend a consent in force: a new consent replaces it",
        description="Change the purposes, the end or the grantees; what is not given is kept. "
                    "The old consent is `superseded` from now on (a generation claiming it is "
                    "refused, rule consent-superseded) and the answer is the new one. "
                    "Narrowing keeps the evidence; widening (a new purpose, a later or no end, "
                    "new grantees) needs new `evidence` of the person's agreement (422 "
                    "without). 409 when the consent is not in force.",
        responses={201: example(Consent, AMENDED_EXAMPLE, "the new consent, active"),
                   **error_responses(401, 403, 404, 409, 413, 422)},
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
            "grantees": ["api:ops"]}}}}})
    def amend_consent(
            consent_id: str,
            purposes: List[str] = Form([], description="the purposes from now on "
                                                                   "(repeat or comma list); "
                                                                   "omitted: kept"),
            expires: Optional[str] = Form(None, description="ISO-8601 end (UTC when no zone), "
                                                            f"`{NO_EXPIRY[0]}` for no end; "
                                                            "omitted: kept"),
            grantees: List[str] = Form([], description="who may use it from now "
                                                                   "on: " + _GRANTEES_TEXT
                                                                   + "; omitted: kept"),
            evidence: Optional[UploadFile] = File(None, description="new evidence, needed to "
                                                                    "widen: " + _EVIDENCE_TEXT),
            user: str = Depends(require_user), _admin: None = Depends(require_admin),
    ) -> Dict[str, Any]:
        folder = Path(tempfile.mkdtemp(prefix="sonic-consent-"))
        try:
            expiry = parse_amended_expiry(expires)  # bad dates fail before the upload is kept
            proof = (save_upload(evidence, folder / "evidence", MAX_EVIDENCE_BYTES, "evidence")
                     if evidence is not None else None)
            record = service.amend_consent(
                consent_id, actor("api", user), purposes=split_labels(purposes) or None,
                expires=expiry,
                grantees=split_labels(grantees) or None, evidence=proof)
        finally:  # NotFound 404, Conflict (not in force) 409, InputError 422
            shutil.rmtree(folder, ignore_errors=True)
        return record.to_dict()

    @small.get("/consents", response_model=ConsentList, summary="Every consent, oldest first",
               dependencies=[Depends(require_user), Depends(require_admin)],
               responses={200: example(ConsentList, {"consents": [CONSENT_EXAMPLE]},
                                       "the consents with their status now"),
                          **error_responses(401, 403)})
    def list_consents() -> Dict[str, Any]:
        return {"consents": [c.to_dict() for c in service.list_consents()]}

    # before /consents/{consent_id}, which would take "granted" for an id
    @small.get("/consents/granted", response_model=GrantedConsentList,
               summary="The consents in force granted to you",
               description="What you may claim as `consent_id` in POST /generate: consents in "
                           "force (active) whose grantees name you (`api:USER`, `USER`) or "
                           "`any`. No admin token needed; evidence and grantees are not shown.",
               responses={200: example(GrantedConsentList, {"consents": [GRANTED_EXAMPLE]},
                                       "your consents, oldest first"),
                          **error_responses(401)})
    def granted_consents(user: str = Depends(require_user)) -> Dict[str, Any]:
        records = service.list_consents(granted_to=actor("api", user))
        return {"consents": [_granted_view(r.to_dict()) for r in records]}

    @small.get("/consents/{consent_id}", response_model=ConsentDetails,
               summary="One consent and its history",
               dependencies=[Depends(require_user), Depends(require_admin)],
               responses={200: example(ConsentDetails, CONSENT_DETAILS_EXAMPLE,
                                       "the consent and every audit event naming it"),
                          **error_responses(401, 403, 404)})
    def show_consent(consent_id: str) -> Dict[str, Any]:
        return existing(consent_id)

    @small.post("/consents/{consent_id}/revoke", response_model=Consent,
                summary="Revoke a consent now",
                description="From this moment the gate refuses the person under this consent, "
                            "including generations already running when they publish.",
                responses={200: example(Consent, {**CONSENT_EXAMPLE, "status": "revoked",
                                                  "revoked_at": "2026-12-02T08:00:00.000000Z",
                                                  "revoked_by": "api:ops",
                                                  "revoke_reason": "withdrawn by e-mail"},
                                        "the consent, revoked"),
                           **error_responses(401, 403, 404, 409, 422)})
    def revoke_consent(consent_id: str, body: RevokeRequest,
                       user: str = Depends(require_user),
                       _admin: None = Depends(require_admin)) -> Dict[str, Any]:
        # an unknown id is NotFound (404), a revoked one Conflict (409)
        return service.revoke_consent(consent_id, body.reason, actor("api", user)).to_dict()

    @small.get("/audit/verify", response_model=ChainReport,
               summary="Check the audit log's hash chain",
               description="`ok` false names the first event whose link is broken.",
               dependencies=[Depends(require_user), Depends(require_admin)],
               responses={200: example(ChainReport, CHAIN_EXAMPLE, "the chain report"),
                          **error_responses(401, 403)})
    def verify_audit() -> Dict[str, Any]:
        return service.verify_audit_chain().to_dict()

    router.include_router(uploads)
    router.include_router(checks)
    router.include_router(amends)
    router.include_router(small)
