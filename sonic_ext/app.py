"""The standalone app: one FastAPI app with the API at /sonic/v1 and the gradio UI at /."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from ._version import __version__
from .api.auth import ApiAuth
from .api.router import create_router
from .service import SonicService
from .ui import build_ui

API_PREFIX = "/sonic/v1"


def create_app(service: SonicService, auth: ApiAuth) -> FastAPI:
    app = FastAPI(title="Sonic", version=__version__,
                  description="Consent-gated, signed talking-head videos.")
    # The API first: the UI is mounted at "/" and would otherwise shadow these routes.
    app.include_router(create_router(service, auth), prefix=API_PREFIX)
    # The UI asks for the same users as the API: its event handlers are an API of their own.
    return gr.mount_gradio_app(app, build_ui(service), path="/",
                               auth=list(auth.users.items()) or None,
                               allowed_paths=[str(service.settings.outputs_dir)])
