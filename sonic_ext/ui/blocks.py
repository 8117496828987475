"""The Sonic UI as one gr.Blocks with a tab per task.

Written against the gradio subset common to 3.41 (A1111) and 4.x (Forge, standalone): no
`.style()`, no `Component.update`, handlers return plain values.
"""

from __future__ import annotations

import gradio as gr

from ..service import SonicService

# The Generate and Consent screens come with the jobs and admin API; both work from the CLI.
_PENDING = {
    "Generate": ("Portrait + speech clip to a signed talking-head MP4. In this version: "
                 "`sonic-ext generate --image IMG --audio AUDIO --out OUT.mp4`.", None),
    "Consent": ("Enrol people who consented, list and revoke consents (admins). In this "
                "version: `sonic-ext consent add | list | show | revoke | audit-verify`.", None),
    "Verify": ("Drop any file to learn where it came from.", "verify"),
}


def models_table(service: SonicService) -> tuple[list[list[object]], str]:
    """Rows for the Models tab and a one-line summary."""
    status = service.models_status()
    rows = [[f.file.path, f.file.component, f.state, f.found_size, f.file.size]
            for f in status.files]
    ready = "ready" if status.ready else f"{len(status.problems)} of {len(status.files)} files need attention"
    return rows, f"Models folder `{status.models_dir}`: {ready}."


def build_ui(service: SonicService) -> gr.Blocks:
    capabilities = service.capabilities.to_dict()
    with gr.Blocks(analytics_enabled=False, title="Sonic") as ui:
        gr.Markdown("## Sonic: consent-gated, signed talking heads")
        for title, (purpose, capability) in _PENDING.items():
            with gr.Tab(title, elem_id=f"sonic_tab_{title.lower()}"):
                gr.Markdown(purpose)
                if capability is None or not capabilities[capability]:
                    gr.Markdown("*Not available in this installation yet.*",
                                elem_id=f"sonic_{title.lower()}_unavailable")
        with gr.Tab("Models", elem_id="sonic_tab_models"):
            summary = gr.Markdown(elem_id="sonic_models_summary")
            table = gr.Dataframe(headers=["file", "component", "state", "size", "expected size"],
                                 interactive=False, elem_id="sonic_models_table")
            refresh = gr.Button("Check models folder", elem_id="sonic_models_refresh")
            refresh.click(lambda: models_table(service), inputs=None, outputs=[table, summary],
                          api_name="models_status")
        ui.load(lambda: models_table(service), inputs=None, outputs=[table, summary])
    return ui
