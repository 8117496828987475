"""How a service error reads on the page: its message, its hint, and its code (the same code the
CLI's --json and the API return, so a user can quote it)."""

from __future__ import annotations

import gradio as gr

from ...errors import SonicError


def ui_error(exc: SonicError) -> gr.Error:
    return gr.Error(f"{exc} [{exc.code}]")
