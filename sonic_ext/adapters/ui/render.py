"""HTML snippets the tabs show: progress, notices, the provenance summary and verdicts.

gr.HTML rather than gr.Markdown because gradio 4 sanitises Markdown and gradio 3 does not; every
value from a file or a record is escaped here, and the full report sits in a sandboxed iframe.
"""

from __future__ import annotations

import html
from typing import Any

from ...contracts import GenerateResult, VerifyReport
from ...lip_sync import SyncCheck
from ...progress import ProgressEvent

STAGE_NAMES = {"check inputs": "Checking inputs", "denoise": "Denoising",
               "decode and encode": "Decoding, watermarking and encoding frames",
               "sign and publish": "Signing and publishing",
               "download models": "Downloading models", "verify": "Verifying the output"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def progress_html(event: ProgressEvent | None, starting: str = "Starting") -> str:
    """A progress bar with the stage, the step counter and the ETA of the latest event."""
    if event is None:
        return (f"<div class='sonic-progress' data-state='running'><progress></progress>"
                f"<span class='sonic-progress-text'>{_e(starting)}…</span></div>")
    stage = STAGE_NAMES.get(event.stage, event.stage.capitalize())
    unit = "frame" if event.stage == "decode and encode" else "step"
    in_bytes = event.stage == "download models"  # its steps are bytes; the message says them
    text = f"{stage}: {unit} {event.step} of {event.total}" \
        if event.total > 1 and not in_bytes else stage
    if in_bytes and event.message:
        text += f": {event.message}"
    if event.eta_s is not None and event.step < event.total:
        text += f" · about {_seconds(event.eta_s)} left"
    if event.elapsed_s >= 1:
        text += f" · {_seconds(event.elapsed_s)} elapsed"
    if event.message and not in_bytes:
        text += f" · {event.message}"
    return (f"<div class='sonic-progress' data-state='running' data-step='{event.step}' "
            f"data-total='{event.total}'><progress value='{event.step}' max='{event.total}'>"
            f"</progress><span class='sonic-progress-text'>{_e(text)}</span></div>")


def notice_html(kind: str, text: str) -> str:
    """A one-line outcome: kind is done, cancelling, cancelled, idle or error (its CSS class)."""
    return f"<div class='sonic-notice sonic-notice-{_e(kind)}' data-state='{_e(kind)}'>{_e(text)}</div>"


def provenance_html(result: GenerateResult, report: VerifyReport) -> str:
    """What an operator checks before sharing a video: verdict, records and signer."""
    rows = [("Verdict", _badge(report.verdict)),
            ("Consent", _e(result.consent_id)),
            ("Watermark", _e(result.watermark_id)),
            ("Generation", _e(result.generation_id)),
            ("Signer", _e(signer_text(report) or result.credentials)),
            ("SHA-256", f"<code>{_e(result.sha256)}</code>"),
            ("Time", _e(f"{result.seconds:.1f} s"))]
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"{test_weights_banner(report)}<table class='sonic-provenance'>{body}</table>"


def test_weights_banner(report: VerifyReport) -> str:
    """A warning above everything else when test weights made the file (empty otherwise)."""
    from ...report import TEST_WEIGHTS_WARNING

    return test_weights_html(TEST_WEIGHTS_WARNING) if report.made_with_test_weights else ""


def test_weights_html(text: str) -> str:
    """The page's test-weights warning (a file's, or the loaded models')."""
    return f"<p class='sonic-test-weights'>{_e(text)}</p>"


def verdict_html(report: VerifyReport) -> str:
    """The verdict in words with each reason, and the consent on record when there is one."""
    from ...report import VERDICT_WORDS

    _, meaning, _ = VERDICT_WORDS.get(report.verdict, (report.verdict, "", ""))
    reasons = "".join(f"<li>{_e(r['text'])}</li>" for r in report.reasons)
    consent = ""
    named = report.content.get("named_consent")
    if report.consent:
        state = "revoked" if report.consent.get("revoked_at") else "in force"
        unconfirmed = (" The pictures could not be confirmed to be that generation's."
                       if report.verdict == "stripped-unconfirmed" else "")
        consent = (f"<p>Consent {_e(report.consent.get('id'))} "
                   f"({_e(report.consent.get('subject_name'))}): {state}.{unconfirmed}</p>")
    elif isinstance(named, dict):
        consent = (f"<p class='sonic-mismatch'>The watermark names consent {_e(named.get('id'))} "
                   f"({_e(named.get('subject_name'))}), which does NOT cover these pictures."
                   "</p>")
    if report.consent_check:
        check = report.consent_check
        identity = check.get("identity")
        signed = (f" Registry identity assertion: {_e(identity['state'])}."
                  if isinstance(identity, dict) else "")
        consent += (f"<p class='sonic-consent-check'>Consent credential: "
                    f"<b>{_e(check['verdict'])}</b>. {_e(check['reason'])}{signed}</p>")
    return (f"<div class='sonic-verdict-block'>{test_weights_banner(report)}"
            f"{_badge(report.verdict)} {_e(meaning)}"
            f"<ul class='sonic-reasons'>{reasons}</ul>{consent}</div>")


def sync_html(check: SyncCheck) -> str:
    """The lip-sync check in words: the offset and what would correct it, or why none."""
    detail = ""
    if check.status == "measured":
        detail = f"Measured on {check.face_frames} of {check.frames} frames."
        if check.reliable and check.offset_ms:
            way = "earlier" if check.offset_ms > 0 else "later"
            detail += (f" To correct it, move the sound {abs(check.offset_ms)} ms {way}, or "
                       f"generate again with Lip-sync offset {check.offset_ms:+d} ms.")
    return (f"<div class='sonic-sync' data-status='{_e(check.status)}' "
            f"data-offset='{_e(check.offset_ms if check.offset_ms is not None else '')}'>"
            f"<b>Lip sync:</b> {_e(check.message)}. {_e(detail)}</div>")


def report_frame_html(report_html: str) -> str:
    """The full HTML report inline, isolated from the page's styles and scripts."""
    return (f"<iframe class='sonic-report-frame' sandbox='' title='verification report' "
            f"srcdoc='{_e(report_html)}'></iframe>")


def signer_text(report: VerifyReport) -> str:
    signature = report.c2pa.get("signature") or {}
    names = [str(signature[key]) for key in ("common_name", "issuer") if signature.get(key)]
    text = " · issued by ".join(dict.fromkeys(names))
    if report.c2pa.get("development_credentials"):
        text = f"{text} (development credentials)" if text else "development credentials"
    return text


def _badge(verdict: str) -> str:
    return f"<span class='sonic-verdict sonic-verdict-{_e(verdict)}'>{_e(verdict)}</span>"


def _seconds(value: float) -> str:
    value = max(0.0, value)
    if value < 90:
        return f"{value:.0f} s"
    return f"{value // 60:.0f} min {value % 60:02.0f} s"
