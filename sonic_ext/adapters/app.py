"""The standalone app: one FastAPI app with the API at /sonic/v1 and the gradio UI at /."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from .._version import __version__
from ..service import SonicService
from .api.auth import ApiAuth
from .api.router import API_PREFIX, create_router
from .ui import build_ui

__all__ = ["API_PREFIX", "create_app"]

_TAGS = [
    {"name": "generate", "description": "Start a consent-gated generation; it runs as a job."},
    {"name": "jobs", "description": "Your jobs: progress, cancel, the signed video, its "
                                    "verify report. They survive a restart."},
    {"name": "verify", "description": "Where a file came from: C2PA, watermark, records."},
    {"name": "consent", "description": "Consent administration; needs the admin token "
                                       "(`X-Sonic-Admin-Token`)."},
    {"name": "status", "description": "Health and model files."},
]


def create_app(service: SonicService, auth: ApiAuth) -> FastAPI:
    app = FastAPI(title="Sonic", version=__version__, openapi_tags=_TAGS,
                  description="Consent-gated, signed talking-head videos.")
    # The API first: the UI is mounted at "/" and would otherwise shadow these routes.
    app.include_router(create_router(service, auth), prefix=API_PREFIX)
    # The UI asks for the same users as the API: its event handlers are an API of their own.
    return gr.mount_gradio_app(app, build_ui(service), path="/",
                               auth=auth.ui_login if auth.users else None,
                               allowed_paths=[str(service.settings.outputs_dir)])
