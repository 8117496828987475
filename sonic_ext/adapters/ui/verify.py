"""The Verify tab: drop a file, read its verdict and reasons, open or download the full report;
for a talking-head video, also check its lip sync."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from ...contracts import VerifyReport
from ...errors import SonicError
from ...service import SonicService
from ...verify import OTHER_TYPES, VIDEO_TYPES
from .cache import private_folder
from .compat import upload_path
from .errors import ui_error
from .render import report_frame_html, sync_html, verdict_html

ACCEPTED = [*VIDEO_TYPES, *OTHER_TYPES]


def verify_with_report(service: SonicService, path: Path) -> tuple[VerifyReport, Path]:
    """Verify `path` and write its HTML report into the private cache (`cache/reports/`), from
    which gradio copies it for the user who asked."""
    report = service.verify(path)
    reports = private_folder(service, "reports", "*.verify.html")
    out = reports / f"{Path(path).stem}-{uuid.uuid4().hex[:8]}.verify.html"
    return report, service.write_verify_report(report, out)


class VerifyHandlers:
    def __init__(self, service: SonicService) -> None:
        self.service = service

    def verify(self, upload: Any) -> tuple[str, str, str]:
        """Verdict with reasons, the report file to download and the report inline."""
        path = upload_path(upload)
        if path is None:
            raise gr.Error("Drop a file to verify first.")
        try:
            report, report_path = verify_with_report(self.service, path)
        except SonicError as exc:
            raise ui_error(exc) from None
        return (verdict_html(report), str(report_path),
                report_frame_html(report_path.read_text(encoding="utf-8")))


    def sync_check(self, upload: Any) -> str:
        """How far the video's sound is ahead of or behind its mouth (`sonic-ext sync-check`)."""
        path = upload_path(upload)
        if path is None:
            raise gr.Error("Drop a video to check its lip sync first.")
        try:
            return sync_html(self.service.sync_check(path))
        except SonicError as exc:
            raise ui_error(exc) from None


def verify_tab(service: SonicService) -> None:
    handlers = VerifyHandlers(service)
    with gr.Tab("Verify", elem_id="sonic_tab_verify"):
        gr.Markdown("Drop any MP4/MOV, JPEG/PNG or WAV/MP3 here to learn where it came from: "
                    "its C2PA manifest, our watermark and the records behind them.",
                    elem_id="sonic_verify_hint")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="File to verify", file_types=ACCEPTED,
                                 elem_id="sonic_verify_file")
                check = gr.Button("Verify", variant="primary", elem_id="sonic_verify")
                sync = gr.Button("Check lip sync", elem_id="sonic_sync_check")
            with gr.Column(scale=2):
                verdict = gr.HTML(elem_id="sonic_verdict")
                sync_result = gr.HTML(elem_id="sonic_sync_result")
                report_file = gr.File(label="Full report (HTML)", interactive=False,
                                      elem_id="sonic_verify_report_file")
        with gr.Accordion("Full report", open=True):
            report_view = gr.HTML(elem_id="sonic_verify_report")
        outputs = [verdict, report_file, report_view]
        check.click(handlers.verify, inputs=upload, outputs=outputs, api_name="verify")
        upload.upload(handlers.verify, inputs=upload, outputs=outputs, api_name=False)
        sync.click(handlers.sync_check, inputs=upload, outputs=sync_result,
                   api_name="sync_check")
