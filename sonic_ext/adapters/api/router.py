"""Routes of /sonic/v1, one router for the standalone app and the WebUI hosts alike."""

from __future__ import annotations

from typing import Any, Dict, Optional

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from ..._version import __version__
from ...service import SonicService
from ..jobs import jobs_for
from .auth import ApiAuth
from .batches import add_batch_routes
from .consent import add_consent_routes
from .generate import add_generate_routes
from .job_routes import add_job_routes
from .models import Health, ModelsReport, error_responses
from .uploads import SMALL_BODY_BYTES, api_route
from .verify import add_verify_route

API_PREFIX = "/sonic/v1"


def create_router(service: SonicService, auth: ApiAuth) -> APIRouter:
    """Every route of the API; mount it with `prefix=API_PREFIX`."""
    router = APIRouter()
    require_user = auth.user_dependency()
    maybe_user = auth.optional_user_dependency()
    jobs = jobs_for(service)
    add_generate_routes(router, service, jobs, require_user)
    add_batch_routes(router, service, jobs, require_user)
    add_job_routes(router, service, jobs, require_user)
    add_verify_route(router, service, require_user)
    add_consent_routes(router, service, require_user)

    status = APIRouter(route_class=api_route(SMALL_BODY_BYTES), tags=["status"])

    @status.get("/health", response_model=Health, response_model_exclude_unset=True,
                summary="Status and version; for users also home, models and capabilities",
                description="Open to probes, also when API users are configured; without valid "
                            "credentials it says only `status` and `version` (paths and setup "
                            "are for users).")
    def health(user: Optional[str] = Depends(maybe_user)) -> Dict[str, Any]:
        if user is None:
            return {"status": "ok", "version": __version__}
        return service.health()

    @status.get("/consent-status", response_class=PlainTextResponse,
                summary="The signed consent revocation status list",
                description="A W3C Bitstring Status List as a VC-JWT (application/vc+jwt), "
                            "signed by the registry's consent issuer, as of now. Open without "
                            "authentication: it reveals only bits, one per consent credential.",
                responses={200: {"content": {"application/vc+jwt": {}}}, **error_responses(409)})
    def consent_status() -> PlainTextResponse:
        token = service.consent_status_list()  # an altered registry publishes none: 409
        return PlainTextResponse(token, media_type="application/vc+jwt")

    @status.get("/models", response_model=ModelsReport, summary="Each expected model file",
                dependencies=[Depends(require_user)], responses=error_responses(401))
    def models() -> Dict[str, Any]:
        return service.models_status().to_dict()

    router.include_router(status)
    return router
