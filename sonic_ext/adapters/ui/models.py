"""The Models tab: what the models folder holds, and a download of what is missing."""

from __future__ import annotations

import html
from collections.abc import Iterator

import gradio as gr

from ...contracts import GenerationParams
from ...errors import InputError, SonicError
from ...parameters import param_specs
from ...service import SonicService
from ...text import readable_size
from .background import BackgroundCall
from .compat import keep_out_of_ui_config
from .render import notice_html, progress_html

HEADERS = ["file", "component", "state", "size", "expected size"]
PARAMS = {spec.name: spec for spec in param_specs(GenerationParams)}


def _sizes(found: int | None, expected: int | None) -> tuple[str, str]:
    """Sizes as people read them (blank: none, or not fixed); exact byte counts where both are
    known and differ, to see by how much."""
    if found is not None and expected is not None and found != expected:
        return f"{found:,} bytes", f"{expected:,} bytes"
    return readable_size(found), readable_size(expected)


def models_table(service: SonicService) -> tuple[list[list[object]], str]:
    """Rows for the table and a one-line summary."""
    status = service.models_status()
    rows = [[f.file.path, f.file.component, f.state,
             *_sizes(f.found_size, f.file.size)] for f in status.files]
    if status.ready:
        state = "ready" + (" (seeded test weights, not the real model)" if status.test_weights
                           else "")
    else:
        state = f"{len(status.problems)} of {len(status.files)} files need attention"
    return rows, f"Models folder `{status.models_dir}`: {state}."


class ModelsHandlers:
    def __init__(self, service: SonicService) -> None:
        self.service = service

    def refresh(self) -> tuple[list[list[object]], str]:
        return models_table(self.service)

    def download(self, hf_token: str | None, admin_token: str | None
                 ) -> Iterator[tuple[str, object, object]]:
        """Fetch what is missing, streaming progress; offline, show which files to fetch
        by hand and where they go (ModelsMissing's message). An admin action: gigabytes of
        downloads and files the models load from are not for every page user."""
        try:
            self.service.require_admin(admin_token, "model downloads")
        except SonicError as exc:
            yield notice_html("error", str(exc)), gr.update(), gr.update()
            return
        call = BackgroundCall(lambda progress: self.service.download_models(
            (hf_token or "").strip() or None, progress), name="sonic-ui-download")
        for event in call.updates():
            yield progress_html(event, "Checking the models folder"), gr.update(), gr.update()
        try:
            fetched = call.result()
        except SonicError as exc:
            notice = notice_html("error", str(exc))
        except Exception as exc:  # a bug, not a download problem: show it, then let gradio report it
            yield notice_html("error", f"{type(exc).__name__}: {exc}"), gr.update(), gr.update()
            raise
        else:
            notice = notice_html("done", f"Downloaded {len(fetched)} file(s)." if fetched else
                                 "Nothing to download: every file is present.")
        rows, summary = models_table(self.service)
        yield notice, rows, summary


    def gpu_memory(self, min_resolution: float, seconds: float, dtype: str) -> str:
        """The estimate per offload mode, as the CLI's `models memory` prints it."""
        try:
            params = GenerationParams(min_resolution=int(min_resolution), dtype=dtype).validate()
            if not 0 < seconds <= self.service.policy.max_audio_seconds:
                raise InputError("seconds", "must be more than 0 and at most "
                                            f"{self.service.policy.max_audio_seconds:g}")
            memory = self.service.gpu_memory(params, float(seconds))
        except SonicError as exc:
            return notice_html("error", str(exc))
        first, *rest = memory.lines()
        return notice_html("idle", first) + "<pre>" + html.escape("\n".join(rest)) + "</pre>"


def models_tab(service: SonicService) -> None:
    handlers = ModelsHandlers(service)
    rows, summary_text = models_table(service)
    with gr.Tab("Models", elem_id="sonic_tab_models") as tab:
        summary = gr.Markdown(summary_text, elem_id="sonic_models_summary")
        table = gr.Dataframe(value=rows, headers=HEADERS, interactive=False,
                             elem_id="sonic_models_table")
        refresh = gr.Button("Check models folder", elem_id="sonic_models_refresh")
        with gr.Accordion("Download missing files", open=False):
            gr.Markdown("Fetches only the missing or damaged files from Hugging Face, with "
                        "resume and checksums. Stable Video Diffusion is gated: accept its "
                        "licence on huggingface.co and give a token.")
            hf_token = gr.Textbox(label="Hugging Face token (optional)", type="password",
                                  elem_id="sonic_hf_token")
            admin_token = gr.Textbox(label="Admin token", type="password",
                                     elem_id="sonic_models_admin_token")
            download = gr.Button("Download", elem_id="sonic_models_download")
            status = gr.HTML(elem_id="sonic_models_download_status")
        with gr.Accordion("GPU memory", open=False):
            gr.Markdown("Estimated from the models' architecture before anything loads. "
                        "Offload `auto` (the default) runs with the least offload that fits "
                        "the GPU's free memory.")
            resolution_spec, dtype_spec = PARAMS["min_resolution"], PARAMS["dtype"]
            with gr.Row():
                resolution = gr.Slider(resolution_spec.low, resolution_spec.high,
                                       value=resolution_spec.default,
                                       step=resolution_spec.ui_step,
                                       label=resolution_spec.label,
                                       elem_id="sonic_memory_resolution")
                seconds = gr.Number(10, label="Speech length (s)", elem_id="sonic_memory_seconds")
                dtype = gr.Dropdown(list(dtype_spec.choices), value=dtype_spec.default,
                                    label=dtype_spec.label, elem_id="sonic_memory_dtype")
            estimate = gr.Button("Estimate", elem_id="sonic_memory_estimate")
            estimated = gr.HTML(elem_id="sonic_memory_result")
        keep_out_of_ui_config(hf_token, admin_token, resolution, seconds, dtype)
        estimate.click(handlers.gpu_memory, inputs=[resolution, seconds, dtype],
                       outputs=estimated, api_name="gpu_memory")
        refresh.click(handlers.refresh, inputs=None, outputs=[table, summary],
                      api_name="models_status")
        tab.select(handlers.refresh, inputs=None, outputs=[table, summary], api_name=False)
        download.click(handlers.download, inputs=[hf_token, admin_token],
                       outputs=[status, table, summary],
                       api_name="models_download", show_progress="hidden")
