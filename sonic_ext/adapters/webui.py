"""Adapter for AUTOMATIC1111 1.10 and Forge: registers the Sonic tab, its Settings section, the
"Send to Sonic" buttons and the /sonic/v1 routes.

Only this module and those it uses, `webui_host` (each generation as a WebUI job),
`webui_memory` (the host's models step aside), `webui_settings` (our Settings section, and
the copies under the WebUI's outputs folder) and `webui_send` ("Send to Sonic" under the host's
galleries), import the host's `modules.*`. A failure
while building the service or the tab shows an error panel in the tab instead of the tab
vanishing (the hosts drop a tab whose callback raises), and the API routes answer 503 with the
same message.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ..logging_setup import configure_logging
from ..service import SonicService
from ..settings import Settings
from .api.auth import ApiAuth
from .api.router import create_router
from .api.users import parse_api_auth
from .app import API_PREFIX
from .ui import build_ui
from .webui_host import WebUIHost
from .webui_send import accept_sent_images, on_after_component
from .webui_settings import on_ui_settings

log = logging.getLogger(__name__)

TAB_TITLE = "Sonic"
TAB_ID = "sonic"


def register() -> None:
    """Called once per script (re)load by `scripts/sonic_tab.py`."""
    from modules import script_callbacks

    script_callbacks.on_ui_settings(on_ui_settings)
    script_callbacks.on_after_component(on_after_component)
    script_callbacks.on_ui_tabs(on_ui_tabs)
    script_callbacks.on_app_started(on_app_started)


def _cmd_opt(name: str) -> Any:
    from modules import shared

    return getattr(shared.cmd_opts, name, None)


@functools.lru_cache(maxsize=1)
def make_service() -> SonicService:
    """One service per process, shared by the tab and the API and kept across "Reload UI".

    Settings come from the host's folders and our `--sonic-*` flags (preload.py); every
    generation runs as a WebUI job (`WebUIHost`). A failure is not cached, so a restart after
    fixing the cause is enough.
    """
    from modules import paths_internal

    settings = Settings.for_webui(paths_internal.data_path, paths_internal.models_path,
                                  home=_cmd_opt("sonic_home"),
                                  models_dir=_cmd_opt("sonic_models_dir"),
                                  policy_path=_cmd_opt("sonic_policy"),
                                  admin_token=_cmd_opt("sonic_admin_token"))
    settings.ensure_dirs()
    configure_logging(settings)
    return SonicService(settings, host=WebUIHost())


def _error_panel(message: str) -> gr.Blocks:
    with gr.Blocks(analytics_enabled=False) as panel:
        gr.Markdown(f"### Sonic could not start\n\n```\n{message}\n```\n\n"
                    "Fix the cause (see the console and `sonic/logs/sonic.log`), then restart.",
                    elem_id="sonic_startup_error")
    return panel


def on_ui_tabs() -> list[tuple[gr.Blocks, str, str]]:
    try:
        blocks = build_ui(make_service())
        accept_sent_images(blocks)
    except Exception as exc:  # noqa: BLE001 - any failure must leave a visible tab
        log.exception("Sonic tab failed to build")
        blocks = _error_panel(f"{type(exc).__name__}: {exc}")
    return [(blocks, TAB_TITLE, TAB_ID)]


def on_app_started(_demo: gr.Blocks | None, app: FastAPI) -> None:
    """Mount the API on the host's app; the host's `--api-auth` users guard it (it does not)."""
    try:
        users = _cmd_opt("api_auth")
        auth = ApiAuth(users=parse_api_auth(users) if users else {})
        app.include_router(create_router(make_service(), auth), prefix=API_PREFIX)
    except Exception as exc:  # noqa: BLE001 - report through the API instead of killing the host
        log.exception("Sonic API failed to start")
        message = f"{type(exc).__name__}: {exc}"

        @app.api_route(API_PREFIX + "/{path:path}", methods=["GET", "POST", "DELETE"],
                       include_in_schema=False)
        def unavailable(path: str) -> JSONResponse:
            return JSONResponse({"error": {"code": "startup_failed", "message": message}}, 503)
