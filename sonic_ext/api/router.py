"""Routes of /sonic/v1. More resources (jobs, verify, consents) join as their stages land."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from ..jobs import JobManager
from ..service import SonicService
from .auth import ApiAuth
from .generate import add_generate_routes
from .verify import add_verify_route


class ModelsSummary(BaseModel):
    models_dir: str
    ready: bool
    present: int
    expected: int
    test_weights: bool


class Health(BaseModel):
    """Typing with `typing` generics keeps these models valid under pydantic 1 (A1111) and 2."""

    status: str
    version: str
    home: str
    models_dir: str
    database: str
    policy: Optional[str] = None
    policy_version: str
    signing: str
    host: str
    models: ModelsSummary
    capabilities: Dict[str, bool]


class ModelFileState(BaseModel):
    path: str
    component: str
    state: str
    expected_size: Optional[int] = None
    found_size: Optional[int] = None
    source: str


class ModelsReport(ModelsSummary):
    files: List[ModelFileState]


def create_router(service: SonicService, auth: ApiAuth) -> APIRouter:
    router = APIRouter(tags=["sonic"])
    require_user = auth.user_dependency()
    add_generate_routes(router, service, JobManager(service), require_user)
    add_verify_route(router, service, require_user)

    @router.get("/health", response_model=Health, summary="Version, home and models status")
    def health() -> Dict[str, Any]:
        return service.health()

    @router.get("/models", response_model=ModelsReport, summary="Each expected model file",
                dependencies=[Depends(require_user)])
    def models() -> Dict[str, Any]:
        return service.models_status().to_dict()

    return router
