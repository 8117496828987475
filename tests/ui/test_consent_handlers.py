"""The Consent tab's handlers: the admin token first, every time; then enrol, list, revoke and
the audit chain, with the service's own checks and messages."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import Settings, SonicService
from sonic_ext.errors import InputError
from sonic_ext.ui.consent import ConsentHandlers, parse_expiry, parse_purposes

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
TOKEN = "ui-admin-token"


@pytest.fixture
def admin(tmp_path: Path) -> ConsentHandlers:
    settings = Settings.from_environment({}, home=tmp_path / "home", admin_token=TOKEN)
    settings.ensure_dirs()
    return ConsentHandlers(SonicService(settings))


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "release.txt"
    path.write_text("signed release, 2026-11-22")
    return path


def enrol(handlers: ConsentHandlers, release: Path, token: str | None = TOKEN,
          **fields: object) -> tuple[str, list[list[str]]]:
    values = {"name": "Barack Obama", "purposes": "education, news", "expires": "",
              "portraits": [str(FACES / "obama.jpg")], "evidence": str(release), **fields}
    return handlers.enrol(token, values["name"], values["purposes"], values["expires"],
                          values["portraits"], values["evidence"],
                          request=gr.Request(username="carol"))


def test_every_action_needs_the_admin_token(admin: ConsentHandlers, evidence: Path) -> None:
    refused = "a valid admin token is required for consent changes"
    for token in (None, "", "wrong"):
        with pytest.raises(gr.Error, match=refused):
            enrol(admin, evidence, token=token)
        with pytest.raises(gr.Error, match=refused):
            admin.list_consents(token)
        with pytest.raises(gr.Error, match=refused):
            admin.revoke(token, "con_x", "asked", request=gr.Request())
        with pytest.raises(gr.Error, match=refused):
            admin.audit(token)
    assert admin.service.list_consents() == []


def test_without_a_configured_token_the_tab_changes_nothing(service: SonicService,
                                                            evidence: Path) -> None:
    handlers = ConsentHandlers(service)
    with pytest.raises(gr.Error, match="no admin token is configured"):
        enrol(handlers, evidence, token="anything")
    with pytest.raises(gr.Error, match="no admin token is configured"):
        handlers.list_consents("anything")


def test_enrol_list_revoke_and_check_the_audit_chain(admin: ConsentHandlers,
                                                     evidence: Path) -> None:
    message, rows = enrol(admin, evidence, expires="2099-01-31")
    [record] = admin.service.list_consents()
    assert message == (f"Recorded consent **{record.id}** for Barack Obama: education, news, "
                       "until 2099-01-31T00:00:00+00:00.")
    assert rows == [[record.id, "Barack Obama", "education, news", "2099-01-31T00:00:00+00:00",
                     "active", "ui:carol", record.recorded_at.isoformat(timespec="seconds")]]
    assert admin.list_consents(TOKEN) == rows

    message, rows = admin.revoke(TOKEN, f"  {record.id} ", "withdrawn by email",
                                 request=gr.Request())
    assert message == f"Revoked consent **{record.id}** (Barack Obama): withdrawn by email"
    assert rows[0][4] == "revoked"
    assert admin.service.show_consent(record.id).consent.revoked_by == "ui:admin"
    with pytest.raises(gr.Error, match="was revoked already"):
        admin.revoke(TOKEN, record.id, "again", request=gr.Request())

    assert admin.audit(TOKEN) == "Audit log intact: 2 events checked."


def test_enrolment_mistakes_are_named(admin: ConsentHandlers, evidence: Path) -> None:
    with pytest.raises(gr.Error, match="evidence: upload the signed release"):
        enrol(admin, evidence, evidence=None)
    with pytest.raises(gr.Error, match="purposes: name at least one purpose"):
        enrol(admin, evidence, purposes=" , ")
    with pytest.raises(gr.Error, match="expires: not an ISO 8601 date"):
        enrol(admin, evidence, expires="next year")
    with pytest.raises(gr.Error, match="expires: .* is not in the future"):
        enrol(admin, evidence, expires="2001-01-01")
    with pytest.raises(gr.Error, match="portrait: at least one portrait is needed"):
        enrol(admin, evidence, portraits=None)
    with pytest.raises(gr.Error, match="no consent with id 'con_nope'"):
        admin.revoke(TOKEN, "con_nope", "asked", request=gr.Request())
    assert admin.service.list_consents() == []


def test_gradio_3_temp_file_objects_enrol_too(admin: ConsentHandlers, evidence: Path) -> None:
    """gr.File on gradio 3.41 passes tempfile wrappers (`.name`), one or a list."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as portrait, \
            tempfile.NamedTemporaryFile(suffix=".txt") as release:
        portrait.write((FACES / "obama.jpg").read_bytes())
        release.write(evidence.read_bytes())
        portrait.flush()
        release.flush()
        enrol(admin, evidence, portraits=[portrait], evidence=release)
    [record] = admin.service.list_consents()
    assert record.subject_name == "Barack Obama"


def test_typed_purposes_and_expiry_dates() -> None:
    assert parse_purposes("education, news;ads  training") == ["education", "news", "ads",
                                                               "training"]
    assert parse_purposes(None) == []
    assert parse_expiry("") is None
    assert parse_expiry("2030-05-01") == datetime(2030, 5, 1, tzinfo=timezone.utc)
    assert parse_expiry("2030-05-01T12:00:00Z") == datetime(2030, 5, 1, 12, tzinfo=timezone.utc)
    with pytest.raises(InputError, match="expires"):
        parse_expiry("05/01/2030")
