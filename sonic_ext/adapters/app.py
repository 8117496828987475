"""The standalone app: one FastAPI app with the API at /sonic/v1 and the gradio UI at /."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

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


class NoCrossOriginApi:
    """Refuse browsers' CORS preflights for the API. Without this, an OPTIONS request to
    /sonic/v1 falls through to the gradio app mounted at "/", whose CORS middleware allows
    localhost and `null` origins with credentials, so any local page (or a file opened in a
    browser) could drive the API with the user's cached credentials. No origin is allowed: the
    API is for programs, and the UI is same-origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS" and \
                scope["path"].startswith(API_PREFIX):
            refused = PlainTextResponse("cross-origin requests to the API are not allowed", 403)
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(service: SonicService, auth: ApiAuth) -> FastAPI:
    app = FastAPI(title="Sonic", version=__version__, openapi_tags=_TAGS,
                  description="Consent-gated, signed talking-head videos.")
    # The API first: the UI is mounted at "/" and would otherwise shadow these routes.
    app.include_router(create_router(service, auth), prefix=API_PREFIX)
    app.add_middleware(NoCrossOriginApi)
    # The UI asks for the same users as the API: its event handlers are an API of their own.
    return gr.mount_gradio_app(app, build_ui(service), path="/",
                               auth=auth.ui_login if auth.users else None,
                               allowed_paths=[str(service.settings.outputs_dir)])
