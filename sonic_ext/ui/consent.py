"""The Consent tab (admins): enrol a person with evidence, list, revoke, check the audit chain.

Every handler asks the service for the admin token first, so a call through gradio's own API
without it changes and reveals nothing. The token field is a password box that is never saved.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..errors import InputError, SonicError
from ..service import SonicService
from .compat import keep_out_of_ui_config, upload_path, upload_paths

if TYPE_CHECKING:  # the registry (SQLAlchemy) loads on first use, not with the page
    from ..consent import ConsentRecord

HEADERS = ["id", "name", "purposes", "valid until", "status", "recorded by", "recorded at"]


def parse_purposes(text: str | None) -> list[str]:
    """Purposes as typed: separated by commas, semicolons or spaces."""
    return [p for p in re.split(r"[,;\s]+", text or "") if p]


def parse_expiry(text: str | None) -> datetime | None:
    """Empty for no expiry, else an ISO 8601 date or date-time (no zone means UTC)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("expires", f"not an ISO 8601 date or date-time: {text!r}",
                         hint="e.g. 2027-06-30 or 2027-06-30T18:00:00+02:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def consent_rows(records: list[ConsentRecord]) -> list[list[str]]:
    def day(moment: datetime | None) -> str:
        return moment.isoformat(timespec="seconds") if moment else "no expiry"

    return [[r.id, r.subject_name, ", ".join(r.purposes), day(r.valid_until), r.status,
             r.recorded_by, day(r.recorded_at)] for r in records]


def _actor(request: gr.Request | None) -> str:
    """Who acted, for the audit log: the signed-in user where the page has logins."""
    username = getattr(request, "username", None)
    return f"ui:{username}" if username else "ui:admin"


class ConsentHandlers:
    """One method per button; each raises gr.Error with the service's message on refusal."""

    def __init__(self, service: SonicService) -> None:
        self.service = service

    def _admin(self, token: str | None) -> None:
        try:
            self.service.require_admin(token)
        except SonicError as exc:
            raise gr.Error(str(exc)) from None

    def enrol(self, token: str | None, name: str, purposes: str, expires: str, portraits: Any,
              evidence: Any, request: gr.Request) -> tuple[str, list[list[str]]]:
        self._admin(token)
        evidence_path = upload_path(evidence)
        try:
            if evidence_path is None:
                raise InputError("evidence", "upload the signed release or other evidence",
                                 hint="the file is kept with the consent record")
            record = self.service.add_consent(name, upload_paths(portraits), evidence_path,
                                              parse_purposes(purposes), parse_expiry(expires),
                                              _actor(request))
        except SonicError as exc:
            raise gr.Error(str(exc)) from None
        until = record.valid_until.isoformat(timespec="seconds") if record.valid_until else \
            "no expiry"
        message = (f"Recorded consent **{record.id}** for {record.subject_name}: "
                   f"{', '.join(record.purposes)}, until {until}.")
        return message, consent_rows(self.service.list_consents())

    def list_consents(self, token: str | None) -> list[list[str]]:
        self._admin(token)
        return consent_rows(self.service.list_consents())

    def revoke(self, token: str | None, consent_id: str, reason: str,
               request: gr.Request) -> tuple[str, list[list[str]]]:
        self._admin(token)
        try:
            record = self.service.revoke_consent((consent_id or "").strip(), reason,
                                                 _actor(request))
        except SonicError as exc:
            raise gr.Error(str(exc)) from None
        message = f"Revoked consent **{record.id}** ({record.subject_name}): {record.revoke_reason}"
        return message, consent_rows(self.service.list_consents())

    def audit(self, token: str | None) -> str:
        self._admin(token)
        report = self.service.verify_audit_chain()
        if report.ok:
            return f"Audit log intact: {report.events_checked} events checked."
        return (f"**Audit log broken** at event {report.broken_seq}: {report.problem} "
                f"({report.events_checked} events checked).")


def consent_tab(service: SonicService) -> None:
    handlers = ConsentHandlers(service)
    with gr.Tab("Consent", elem_id="sonic_tab_consent"):
        if not service.settings.admin_token:
            gr.Markdown("Consent changes are disabled here: no admin token is configured. "
                        "Start with `--admin-token` (WebUI: `--sonic-admin-token`) or set "
                        "`SONIC_ADMIN_TOKEN`, or use `sonic-ext consent` on the server.",
                        elem_id="sonic_consent_disabled")
        token = gr.Textbox(label="Admin token", type="password", elem_id="sonic_admin_token",
                           info="needed for every action on this tab; never stored")
        with gr.Accordion("Enrol a person", open=True):
            with gr.Row():
                name = gr.Textbox(label="Name", elem_id="sonic_consent_name")
                purposes = gr.Textbox(label="Purposes", elem_id="sonic_consent_purposes",
                                      info="what the person agreed to, e.g. education, "
                                           "marketing (comma-separated)")
                expires = gr.Textbox(label="Expires (optional)", elem_id="sonic_consent_expires",
                                     info="ISO 8601 date, e.g. 2027-06-30; empty for none")
            with gr.Row():
                portraits = gr.File(label="Portraits of the person (one face each)",
                                    file_count="multiple", file_types=["image"],
                                    elem_id="sonic_consent_portraits")
                evidence = gr.File(label="Evidence (signed release, recording, …)",
                                   elem_id="sonic_consent_evidence")
            enrol = gr.Button("Record consent", variant="primary", elem_id="sonic_consent_add")
        result = gr.Markdown(elem_id="sonic_consent_result")
        with gr.Accordion("Recorded consents", open=True):
            table = gr.Dataframe(headers=HEADERS, interactive=False,
                                 elem_id="sonic_consent_table")
            listing = gr.Button("List consents", elem_id="sonic_consent_list")
        with gr.Accordion("Revoke a consent", open=False):
            with gr.Row():
                revoke_id = gr.Textbox(label="Consent id", elem_id="sonic_revoke_id")
                reason = gr.Textbox(label="Reason", elem_id="sonic_revoke_reason")
            revoke = gr.Button("Revoke", variant="stop", elem_id="sonic_consent_revoke")
        with gr.Row():
            audit = gr.Button("Check audit chain", elem_id="sonic_audit_check")
            audit_result = gr.Markdown(elem_id="sonic_audit_result")
        keep_out_of_ui_config(token, name, purposes, expires, revoke_id, reason)

        enrol.click(handlers.enrol, inputs=[token, name, purposes, expires, portraits, evidence],
                    outputs=[result, table], api_name="consent_add")
        listing.click(handlers.list_consents, inputs=token, outputs=table, api_name="consent_list")
        revoke.click(handlers.revoke, inputs=[token, revoke_id, reason], outputs=[result, table],
                     api_name="consent_revoke")
        audit.click(handlers.audit, inputs=token, outputs=audit_result, api_name="audit_verify")
