"""The standalone app: one FastAPI app with the API at /sonic/v1 and the gradio UI at /."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import gradio as gr
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class ApiOrigins:
    """Browsers reach the API only from its own origin, or from origins the operator listed
    (`--api-cors-origin`, $SONIC_API_CORS_ORIGINS), which get CORS without cookies.

    Without this, a preflight to /sonic/v1 fell through to the gradio app mounted at "/", whose
    CORS allows localhost and `null` origins with credentials, and a page elsewhere could send
    a "simple" cross-origin POST with the browser's cached Basic credentials. Programs send no
    `Origin` and are not affected. Same origin is judged by host and port only, so a TLS proxy
    in front changes nothing.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)
        self.cors = CORSMiddleware(app, allow_origins=sorted(self.allowed),
                                   allow_methods=["GET", "POST", "DELETE"],
                                   allow_headers=["Authorization", "Content-Type",
                                                  "X-Sonic-Admin-Token"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or urlsplit(origin).netloc == headers.get("host"):
            await self.app(scope, receive, send)
        elif origin in self.allowed:
            await self.cors(scope, receive, send)
        else:
            refused = PlainTextResponse(f"pages from {origin} may not use this API (the server's "
                                        "operator can allow an origin with --api-cors-origin)",
                                        403)
            await refused(scope, receive, send)


class LocalOnlyPage:
    """The page may load and send nothing outside this server (Content-Security-Policy).

    gradio 4's page template loads a script from cdnjs.cloudflare.com, and anything injected
    into the page could send a portrait elsewhere; with this policy the browser fetches only
    from this origin (plus data: and blob: URLs for previews), so the page also works, without
    waiting, on a machine without internet.
    """

    POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
              "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
              "media-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
              "worker-src 'self' blob:; frame-src 'self' blob: data:; object-src 'none'; "
              "base-uri 'self'; form-action 'self'; frame-ancestors 'self'")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.POLICY
            await send(message)

        await self.app(scope, receive, with_policy)


def create_app(service: SonicService, auth: ApiAuth,
               cors_origins: Sequence[str] | None = None) -> FastAPI:
    """`cors_origins`: web origins whose pages may call the API (default: the settings')."""
    app = FastAPI(title="Sonic", version=__version__, openapi_tags=_TAGS,
                  description="Consent-gated, signed talking-head videos.")
    # The API first: the UI is mounted at "/" and would otherwise shadow these routes.
    app.include_router(create_router(service, auth), prefix=API_PREFIX)
    app.add_middleware(LocalOnlyPage)
    app.add_middleware(ApiOrigins, allowed_origins=service.settings.api_cors_origins
                       if cors_origins is None else cors_origins)
    # The UI asks for the same users as the API: its event handlers are an API of their own.
    # No `allowed_paths`: gradio's /file= route would serve anything under it to every user.
    # A video the UI shows is copied into gradio's cache under its content hash, so only
    # someone who already has the file can name it.
    return gr.mount_gradio_app(app, build_ui(service), path="/",
                               auth=auth.ui_login if auth.users else None)
