"""How a service error reads on the page: its message, its hint, and its code (the same code the
CLI's --json and the API return, so a user can quote it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from ...errors import SonicError
from ...text import without_server_paths


def error_text(message: str, code: str) -> str:
    """Server paths (gradio's temp copies, the home) shortened to file names, as in the API."""
    return f"{without_server_paths(message)} [{code}]"


def ui_error(exc: SonicError) -> gr.Error:
    return gr.Error(error_text(str(exc), exc.code))


def job_error(error: Mapping[str, Any] | None) -> gr.Error:
    """A failed job's stored error (`SonicError.to_dict()` or the worker's own) on the page."""
    error = error or {}
    message = str(error.get("message") or "the generation failed")
    if error.get("hint"):
        message += f" ({error['hint']})"
    return gr.Error(error_text(message, str(error.get("code") or "error")))
