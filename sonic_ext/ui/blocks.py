"""The Sonic UI as one gr.Blocks with a tab per task.

Written against the gradio subset common to 3.41 (A1111) and 4.x (Forge, standalone): no
`.style()`, no `Component.update`, handlers return plain values.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from ..errors import SonicError
from ..requests import DEFAULT_PURPOSE, GenerateRequest, GenerationParams
from ..service import SonicService


def models_table(service: SonicService) -> tuple[list[list[object]], str]:
    """Rows for the Models tab and a one-line summary."""
    status = service.models_status()
    rows = [[f.file.path, f.file.component, f.state, f.found_size, f.file.size]
            for f in status.files]
    ready = "ready" if status.ready else f"{len(status.problems)} of {len(status.files)} files need attention"
    return rows, f"Models folder `{status.models_dir}`: {ready}."


def generate_video(service: SonicService, image: str | None, audio: str | None, purpose: str,
                   seed: float, steps: float, min_resolution: float
                   ) -> tuple[str, dict[str, Any]]:
    """The Generate button: the same service call as the CLI and API, consent gate included.

    The check runs here, in Python, so a direct call through gradio's own API is refused too.
    """
    if not image or not audio:
        raise gr.Error("Upload a portrait and a speech clip first.")
    out = service.settings.outputs_dir / f"ui-{uuid.uuid4().hex[:12]}.mp4"
    params = GenerationParams(seed=int(seed), steps=int(steps), min_resolution=int(min_resolution))
    request = GenerateRequest(Path(image), Path(audio), out, purpose or DEFAULT_PURPOSE, params,
                              requested_by="ui")
    try:
        result = service.generate(request)
    except SonicError as exc:
        raise gr.Error(str(exc)) from None
    return str(result.out), result.to_dict()


def verify_upload(service: SonicService, upload: Any) -> tuple[str, dict[str, Any]]:
    """The Verify button: `upload` is a path (gradio 4) or a temp-file object (gradio 3)."""
    if upload is None:
        raise gr.Error("Drop a file to verify first.")
    try:
        report = service.verify(Path(getattr(upload, "name", upload)))
    except SonicError as exc:
        raise gr.Error(str(exc)) from None
    lines = [f"### Verdict: {report.verdict}"] + [f"- {r['text']}" for r in report.reasons]
    return "\n".join(lines), report.to_dict()


def build_ui(service: SonicService) -> gr.Blocks:
    defaults = GenerationParams()
    with gr.Blocks(analytics_enabled=False, title="Sonic") as ui:
        gr.Markdown("## Sonic: consent-gated, signed talking heads")
        with gr.Tab("Generate", elem_id="sonic_tab_generate"):
            gr.Markdown("Portrait + speech clip to a signed talking-head MP4. Only people whose "
                        "consent is recorded can be animated.")
            with gr.Row():
                portrait = gr.Image(type="filepath", label="Portrait",
                                    elem_id="sonic_portrait")
                speech = gr.Audio(type="filepath", label="Speech", elem_id="sonic_speech")
            with gr.Row():
                purpose = gr.Textbox(value=DEFAULT_PURPOSE, label="Purpose",
                                     elem_id="sonic_purpose")
                seed = gr.Number(value=defaults.seed, label="Seed", precision=0)
                steps = gr.Slider(1, 50, value=defaults.steps, step=1, label="Steps")
                resolution = gr.Slider(256, 1024, value=defaults.min_resolution, step=64,
                                       label="Minimum resolution")
            run = gr.Button("Generate", variant="primary", elem_id="sonic_generate")
            video = gr.Video(label="Signed video", elem_id="sonic_video")
            summary = gr.JSON(label="Provenance", elem_id="sonic_provenance")
            run.click(lambda *args: generate_video(service, *args),
                      inputs=[portrait, speech, purpose, seed, steps, resolution],
                      outputs=[video, summary], api_name="generate")
        with gr.Tab("Consent", elem_id="sonic_tab_consent"):
            # The consent screens come with the admin API; the registry works from the CLI.
            gr.Markdown("Enrol people who consented, list and revoke consents (admins). In this "
                        "version: `sonic-ext consent add | list | show | revoke | "
                        "audit-verify`.", elem_id="sonic_consent_unavailable")
        with gr.Tab("Verify", elem_id="sonic_tab_verify"):
            gr.Markdown("Drop any MP4/MOV, JPEG/PNG or WAV/MP3 to learn where it came from.")
            upload = gr.File(label="File to verify", elem_id="sonic_verify_file")
            check = gr.Button("Verify", elem_id="sonic_verify")
            verdict = gr.Markdown(elem_id="sonic_verdict")
            details = gr.JSON(label="Report", elem_id="sonic_verify_report")
            check.click(lambda f: verify_upload(service, f), inputs=upload,
                        outputs=[verdict, details], api_name="verify")
        with gr.Tab("Models", elem_id="sonic_tab_models"):
            summary = gr.Markdown(elem_id="sonic_models_summary")
            table = gr.Dataframe(headers=["file", "component", "state", "size", "expected size"],
                                 interactive=False, elem_id="sonic_models_table")
            refresh = gr.Button("Check models folder", elem_id="sonic_models_refresh")
            refresh.click(lambda: models_table(service), inputs=None, outputs=[table, summary],
                          api_name="models_status")
        ui.load(lambda: models_table(service), inputs=None, outputs=[table, summary])
    return ui
