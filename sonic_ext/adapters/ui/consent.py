"""The Consent tab (admins): enrol or renew a person with evidence, amend, list, revoke, check
the audit chain.

Every handler asks the service for the admin token first, so a call through gradio's own API
without it changes and reveals nothing. The token field is a password box that is never saved.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import gradio as gr

from ...consent.fields import parse_amended_expiry, parse_expiry, split_labels
from ...errors import InputError, SonicError
from ...service import SonicService
from ...text import printable
from .compat import keep_out_of_ui_config, upload_path, upload_paths
from .errors import ui_error
from .granted import requester

if TYPE_CHECKING:  # the registry (SQLAlchemy) loads on first use, not with the page
    from ...consent import ConsentRecord

HEADERS = ["id", "subject", "name", "purposes", "grantees", "valid until", "status",
           "recorded by", "recorded at"]
GRANTEES_HELP = ("who may generate under it, comma-separated: user names (any surface), "
                 "api:USER, ui:USER or cli:USER (one surface), or \"any\" for every user")


def consent_rows(records: list[ConsentRecord]) -> list[list[str]]:
    """The table's rows; registry text is escaped (`printable`) as the CLI does, so a row stored
    with control or bidi characters shows them as \\uXXXX instead of reordering the cell."""
    def day(moment: datetime | None) -> str:
        return moment.isoformat(timespec="seconds") if moment else "no expiry"

    return [[printable(r.id), printable(r.subject_id), printable(r.subject_name),
             ", ".join(map(printable, r.purposes)), ", ".join(map(printable, r.grantees)),
             day(r.valid_until), _status(r), printable(r.recorded_by), day(r.recorded_at)]
            for r in records]


def _status(record: ConsentRecord) -> str:
    if record.status == "superseded" and record.superseded_by:
        return f"superseded by {printable(record.superseded_by)}"
    return record.status


def _md(text: object) -> str:
    """Registry text inside a Markdown message: escaped, and shown literally, not formatted."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~-])", r"\\\1", printable(text))


def _summary(record: ConsentRecord) -> str:
    """Whom a consent is of, what for, for whom and until when, for a result message."""
    until = record.valid_until.isoformat(timespec="seconds") if record.valid_until else \
        "no expiry"
    return (f"{_md(record.subject_name)}: {_md(', '.join(record.purposes))}, granted to "
            f"{_md(', '.join(record.grantees))}, until {until}")


class ConsentHandlers:
    """One method per button; each raises gr.Error with the service's message on refusal."""

    def __init__(self, service: SonicService) -> None:
        self.service = service

    def _admin(self, token: str | None) -> None:
        try:
            self.service.require_admin(token)
        except SonicError as exc:
            raise ui_error(exc) from None

    def enrol(self, token: str | None, name: str, purposes: str, expires: str, portraits: Any,
              evidence: Any, grantees: str | None, subject_id: str | None,
              request: gr.Request) -> tuple[str, list[list[str]]]:
        """Record a consent; with a subject id, a renewal for a person enrolled already (the
        name may then be left empty)."""
        self._admin(token)
        evidence_path = upload_path(evidence)
        try:
            if evidence_path is None:
                raise InputError("evidence", "upload the signed release or other evidence",
                                 hint="the file is kept with the consent record")
            named = split_labels(grantees)
            if not named:
                raise InputError("grantees", "name who may use this consent",
                                 hint=GRANTEES_HELP)
            record = self.service.add_consent(name, upload_paths(portraits), evidence_path,
                                              split_labels(purposes), parse_expiry(expires),
                                              requester(request), grantees=named,
                                              subject_id=(subject_id or "").strip() or None)
        except SonicError as exc:
            raise ui_error(exc) from None
        message = f"Recorded consent **{record.id}** for {_summary(record)}."
        return message, consent_rows(self.service.list_consents())

    def amend(self, token: str | None, consent_id: str | None, purposes: str | None,
              expires: str | None, grantees: str | None, evidence: Any,
              request: gr.Request) -> tuple[str, list[list[str]]]:
        """Replace a consent in force by a new one; what is left empty is kept. Widening it
        (more purposes or grantees, a later end) needs new evidence."""
        self._admin(token)
        try:
            consent_id = (consent_id or "").strip()
            if not consent_id:
                raise InputError("id", "give the id of the consent to amend",
                                 hint="the table below lists every consent")
            record = self.service.amend_consent(
                consent_id, requester(request), purposes=split_labels(purposes) or None,
                expires=parse_amended_expiry(expires), grantees=split_labels(grantees) or None,
                evidence=upload_path(evidence))
        except SonicError as exc:
            raise ui_error(exc) from None
        message = (f"Amended consent **{record.supersedes or consent_id}**: consent "
                   f"**{record.id}** replaces it, for {_summary(record)}.")
        return message, consent_rows(self.service.list_consents())

    def list_consents(self, token: str | None) -> list[list[str]]:
        self._admin(token)
        return consent_rows(self.service.list_consents())

    def revoke(self, token: str | None, consent_id: str, reason: str,
               request: gr.Request) -> tuple[str, list[list[str]]]:
        self._admin(token)
        try:
            record = self.service.revoke_consent((consent_id or "").strip(), reason,
                                                 requester(request))
        except SonicError as exc:
            raise ui_error(exc) from None
        message = (f"Revoked consent **{record.id}** ({_md(record.subject_name)}): "
                   f"{_md(record.revoke_reason)}")
        return message, consent_rows(self.service.list_consents())

    def audit(self, token: str | None) -> str:
        self._admin(token)
        report = self.service.verify_audit_chain()
        checked = (f"{report.events_checked} events checked against the consent key "
                   f"{report.key_id} and its signed checkpoints")
        if report.ok:
            return f"Registry intact: {checked}."
        where = f" at event {report.broken_seq}" if report.broken_seq else ""
        return "\n".join([f"**Registry altered**{where} ({checked}):",
                          *(f"- {_md(p)}" for p in report.problems)])


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
                grantees = gr.Textbox(label="Grantees", elem_id="sonic_consent_grantees",
                                      info=GRANTEES_HELP)
                subject_id = gr.Textbox(label="Renew for subject id (optional)",
                                        elem_id="sonic_consent_subject",
                                        info="a person enrolled already (see the table); the "
                                             "name may then be left empty")
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
        with gr.Accordion("Amend a consent", open=False):
            gr.Markdown("Records a new consent replacing one in force; what is left empty stays "
                        "as it is. Narrowing keeps the evidence; more purposes or grantees, or a "
                        "later end, need new evidence of the person's agreement.")
            with gr.Row():
                amend_id = gr.Textbox(label="Consent id", elem_id="sonic_amend_id")
                amend_purposes = gr.Textbox(label="New purposes (optional)",
                                            elem_id="sonic_amend_purposes",
                                            info="comma-separated; replace the current ones")
                amend_expires = gr.Textbox(label="New expiry (optional)",
                                           elem_id="sonic_amend_expires",
                                           info="ISO 8601 date, or \"none\" for no expiry")
                amend_grantees = gr.Textbox(label="Grantees (optional)",
                                            elem_id="sonic_amend_grantees",
                                            info="replace the current ones, as above")
            amend_evidence = gr.File(label="New evidence (optional)",
                                     elem_id="sonic_amend_evidence")
            amend = gr.Button("Amend", elem_id="sonic_consent_amend")
        with gr.Accordion("Revoke a consent", open=False):
            with gr.Row():
                revoke_id = gr.Textbox(label="Consent id", elem_id="sonic_revoke_id")
                reason = gr.Textbox(label="Reason", elem_id="sonic_revoke_reason")
            revoke = gr.Button("Revoke", variant="stop", elem_id="sonic_consent_revoke")
        with gr.Row():
            audit = gr.Button("Check audit chain", elem_id="sonic_audit_check")
            audit_result = gr.Markdown(elem_id="sonic_audit_result")
        keep_out_of_ui_config(token, name, purposes, expires, grantees, subject_id, amend_id,
                              amend_purposes, amend_expires, amend_grantees, revoke_id, reason)

        enrol.click(handlers.enrol, inputs=[token, name, purposes, expires, portraits, evidence,
                                            grantees, subject_id],
                    outputs=[result, table], api_name="consent_add")
        amend.click(handlers.amend, inputs=[token, amend_id, amend_purposes, amend_expires,
                                            amend_grantees, amend_evidence],
                    outputs=[result, table], api_name="consent_amend")
        listing.click(handlers.list_consents, inputs=token, outputs=table, api_name="consent_list")
        revoke.click(handlers.revoke, inputs=[token, revoke_id, reason], outputs=[result, table],
                     api_name="consent_revoke")
        audit.click(handlers.audit, inputs=token, outputs=audit_result, api_name="audit_verify")
