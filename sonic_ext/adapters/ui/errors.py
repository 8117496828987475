"""How a service error reads on the page: its message, its hint, and its code (the same code the
CLI's --json and the API return, so a user can quote it)."""

from __future__ import annotations

import gradio as gr

from ...errors import SonicError
from ...text import without_server_paths


def ui_error(exc: SonicError) -> gr.Error:
    """Server paths (gradio's temp copies, the home) shortened to file names, as in the API."""
    return gr.Error(f"{without_server_paths(str(exc))} [{exc.code}]")
