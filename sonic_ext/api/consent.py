"""Consent administration: enrol with evidence, list, show, revoke, and check the audit chain.

Every route needs an API user and the installation's admin token (`X-Sonic-Admin-Token`);
without a configured token they answer 403, so a host that never set one cannot change consent
over HTTP. Portraits and evidence arrive only as uploads, go to a private temporary folder, and
are gone when the request ends: the registry keeps its own copy of the evidence.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile

from ..errors import InputError, SonicError
from ..service import SonicService
from .auth import admin_dependency
from .errors import error_response
from .models import (
    CHAIN_EXAMPLE,
    CONSENT_DETAILS_EXAMPLE,
    CONSENT_EXAMPLE,
    ChainReport,
    Consent,
    ConsentDetails,
    ConsentList,
    RevokeRequest,
    error_responses,
    example,
)
from .uploads import (
    FORM_SLACK_BYTES,
    MAX_EVIDENCE_BYTES,
    MAX_IMAGE_BYTES,
    SMALL_BODY_BYTES,
    body_limited,
    save_upload,
)

MAX_PORTRAITS = 10


def parse_purposes(values: List[str]) -> List[str]:
    """Repeated fields, comma lists, or both: `purposes=a&purposes=b` or `purposes=a,b`."""
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def parse_expiry(text: Optional[str]) -> Optional[datetime]:
    if not (text or "").strip():
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError("expires", f"{text!r} is not an ISO-8601 date or time",
                         hint="e.g. 2027-12-31 or 2027-12-31T18:00:00Z") from None


def add_consent_routes(router: APIRouter, service: SonicService, require_user: Any) -> None:
    uploads = APIRouter(route_class=body_limited(MAX_PORTRAITS * MAX_IMAGE_BYTES +
                                                 MAX_EVIDENCE_BYTES + FORM_SLACK_BYTES),
                        tags=["consent"])
    small = APIRouter(route_class=body_limited(SMALL_BODY_BYTES), tags=["consent"])
    require_admin = admin_dependency(service)

    def existing(consent_id: str) -> Dict[str, Any]:
        try:
            return service.show_consent(consent_id).to_dict()
        except SonicError as exc:  # NotFound: 404
            raise error_response(exc) from None

    @uploads.post(
        "/consents", status_code=201, response_model=Consent,
        summary="Record a consent and enrol the person's face",
        description="Each portrait must show exactly one face, all of the same person. The "
                    "evidence (a signed release, a recording) is stored with its sha256.",
        responses={201: example(Consent, CONSENT_EXAMPLE, "the consent, active"),
                   **error_responses(401, 403, 413, 422)},
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
            "name": "Ada Example", "purposes": ["education", "training"],
            "expires": "2027-12-01"}}}}})
    def add_consent(
            name: str = Form(..., description="the person's name"),
            purposes: List[str] = Form(..., description="what they agreed to: repeat the field "
                                                        "or give a comma list"),
            expires: Optional[str] = Form(None, description="ISO-8601 end (UTC when no zone); "
                                                            "omitted: no end"),
            portraits: List[UploadFile] = File(..., description=f"1 to {MAX_PORTRAITS} photos "
                                                                "of the person, 20 MB each"),
            evidence: UploadFile = File(..., description="signed release or recording, at most "
                                                         "200 MB"),
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
            record = service.add_consent(name, saved, proof, parse_purposes(purposes),
                                         parse_expiry(expires), f"api:{user}")
        except SonicError as exc:
            raise error_response(exc) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return record.to_dict()

    @small.get("/consents", response_model=ConsentList, summary="Every consent, oldest first",
               dependencies=[Depends(require_user), Depends(require_admin)],
               responses={200: example(ConsentList, {"consents": [CONSENT_EXAMPLE]},
                                       "the consents with their status now"),
                          **error_responses(401, 403)})
    def list_consents() -> Dict[str, Any]:
        try:
            return {"consents": [c.to_dict() for c in service.list_consents()]}
        except SonicError as exc:
            raise error_response(exc) from None

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
        try:  # an unknown id is NotFound (404), a revoked one Conflict (409)
            return service.revoke_consent(consent_id, body.reason, f"api:{user}").to_dict()
        except SonicError as exc:
            raise error_response(exc) from None

    @small.get("/audit/verify", response_model=ChainReport,
               summary="Check the audit log's hash chain",
               description="`ok` false names the first event whose link is broken.",
               dependencies=[Depends(require_user), Depends(require_admin)],
               responses={200: example(ChainReport, CHAIN_EXAMPLE, "the chain report"),
                          **error_responses(401, 403)})
    def verify_audit() -> Dict[str, Any]:
        try:
            return service.verify_audit_chain().to_dict()
        except SonicError as exc:
            raise error_response(exc) from None

    router.include_router(uploads)
    router.include_router(small)
