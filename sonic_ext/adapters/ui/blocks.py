"""The Sonic page: one gr.Blocks with a tab per task, for the standalone app and the WebUI tab.

Written against the gradio subset common to 3.41 (A1111) and 4.x (Forge, standalone); the few
differences live in `compat`. Everything sits under `#sonic_root`, which `style.css` and
`javascript/` select by.
"""

from __future__ import annotations

import gradio as gr

from ...service import SonicService
from .assets import scripts_head, stylesheet
from .compat import page_options, quiet_refusal_tracebacks
from .consent import consent_tab
from .generate import generate_tab
from .history import history_tab
from .models import models_tab
from .verify import verify_tab


def build_ui(service: SonicService) -> gr.Blocks:
    """The whole UI; a WebUI loads our CSS and scripts itself, the standalone page gets them here."""
    quiet_refusal_tracebacks()
    standalone = service.settings.host != "webui"
    options = page_options(stylesheet(), scripts_head()) if standalone else {}
    with gr.Blocks(analytics_enabled=False, title="Sonic", **options) as ui, \
            gr.Column(elem_id="sonic_root"):
        if standalone:
            gr.Markdown("## Sonic: consent-gated, signed talking heads")
        with gr.Tabs(elem_id="sonic_tabs"):
            generate = generate_tab(service)
            load_history = history_tab(service, generate)
            consent_tab(service)
            verify_tab(service)
            models_tab(service)
        generate.load_with(ui)  # what the page shows whoever opens it: their consents, their
        load_history(ui)  # job, their outputs
    return ui
