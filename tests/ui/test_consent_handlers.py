"""The Consent tab's handlers: the admin token first, every time; then enrol (and renew), amend,
list, revoke and the audit chain, with the service's own checks and messages."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import Settings, SonicService
from sonic_ext.adapters.ui.consent import ConsentHandlers
from sonic_ext.consent.fields import (
    KEEP,
    parse_amended_expiry,
    parse_expiry,
    split_labels,
)
from sonic_ext.errors import InputError
from tests.evidence import write_release_pdf

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
TOKEN = "ui-admin-token"


@pytest.fixture
def admin(tmp_path: Path) -> ConsentHandlers:
    settings = Settings.from_environment({}, home=tmp_path / "home", admin_token=TOKEN)
    settings.ensure_dirs()
    return ConsentHandlers(SonicService(settings))


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    return write_release_pdf(tmp_path / "release.pdf")


def enrol(handlers: ConsentHandlers, release: Path, token: str | None = TOKEN,
          **fields: object) -> tuple[str, list[list[str]]]:
    """The Record consent button, with the tab's inputs in their order."""
    values = {"name": "Barack Obama", "purposes": "education, news", "expires": "",
              "portraits": [str(FACES / "obama.jpg")], "evidence": str(release),
              "grantees": "ui:alice, bob", "subject_id": "", **fields}
    return handlers.enrol(token, values["name"], values["purposes"], values["expires"],
                          values["portraits"], values["evidence"], values["grantees"],
                          values["subject_id"], request=gr.Request(username="carol"))


def amend(handlers: ConsentHandlers, consent_id: str, token: str | None = TOKEN,
          **fields: object) -> tuple[str, list[list[str]]]:
    """The Amend button, with the tab's inputs in their order."""
    values = {"purposes": "", "expires": "", "grantees": "", "evidence": None, **fields}
    return handlers.amend(token, consent_id, values["purposes"], values["expires"],
                          values["grantees"], values["evidence"],
                          request=gr.Request(username="carol"))


def test_every_action_needs_the_admin_token(admin: ConsentHandlers, evidence: Path) -> None:
    refused = "a valid admin token is required for consent changes"
    for token in (None, "", "wrong"):
        with pytest.raises(gr.Error, match=refused):
            enrol(admin, evidence, token=token)
        with pytest.raises(gr.Error, match=refused):
            admin.list_consents(token)
        with pytest.raises(gr.Error, match=refused):
            amend(admin, "con_x", token=token, purposes="education")
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
                       "granted to bob, ui:alice, until 2099-01-31T00:00:00+00:00.")
    assert record.grantees == ("bob", "ui:alice")
    assert rows == [[record.id, record.subject_id, "Barack Obama", "education, news",
                     "bob, ui:alice", "2099-01-31T00:00:00+00:00", "active", "ui:carol",
                     record.recorded_at.isoformat(timespec="seconds")]]
    assert admin.list_consents(TOKEN) == rows

    message, rows = admin.revoke(TOKEN, f"  {record.id} ", "withdrawn by email",
                                 request=gr.Request())
    assert message == f"Revoked consent **{record.id}** (Barack Obama): withdrawn by email"
    assert rows[0][6] == "revoked"
    assert admin.service.show_consent(record.id).consent.revoked_by == "ui"  # no logins: the surface alone, as the grants read it
    with pytest.raises(gr.Error, match="was revoked already"):
        admin.revoke(TOKEN, record.id, "again", request=gr.Request())

    key_id = admin.service.registry.key.key_id
    assert admin.audit(TOKEN) == (f"Registry intact: 2 events checked against the consent key "
                                  f"{key_id} and its signed checkpoints.")
    with sqlite3.connect(admin.service.settings.registry_path, isolation_level=None) as db:
        db.execute("UPDATE consents SET revoked_at = NULL")
    assert admin.audit(TOKEN).startswith("**Registry altered** (2 events checked against")
    altered = admin.audit(TOKEN)
    assert "is not as the consent key signed it" in altered
    assert record.id.replace("_", "\\_") in altered  # markdown-escaped


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
    for nobody in ("", " , ", None):
        with pytest.raises(gr.Error, match="grantees: name who may use this consent"):
            enrol(admin, evidence, grantees=nobody)
    with pytest.raises(gr.Error, match="grantees: 'web:alice' is not a grantee"):
        enrol(admin, evidence, grantees="web:alice")
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


def test_a_consent_is_renewed_for_its_subject_after_a_revocation(admin: ConsentHandlers,
                                                                 evidence: Path) -> None:
    enrol(admin, evidence)
    [first] = admin.service.list_consents()
    admin.revoke(TOKEN, first.id, "withdrawn", request=gr.Request())
    with pytest.raises(gr.Error, match=first.subject_id):  # the same face: renew, do not re-enrol
        enrol(admin, evidence, portraits=[str(FACES / "obama2.jpg")])

    renewal = write_release_pdf(evidence.with_name("renewal.pdf"), "Renewed release, 2027.")
    message, rows = enrol(admin, renewal, name="", subject_id=f" {first.subject_id} ",
                          purposes="education", grantees="any",
                          portraits=[str(FACES / "obama2.jpg")])
    old, new = admin.service.list_consents()
    assert (old.id, old.status) == (first.id, "revoked")
    assert new.subject_id == first.subject_id and new.subject_name == "Barack Obama"
    assert (new.status, new.purposes, new.grantees) == ("active", ("education",), ("any",))
    assert message.startswith(f"Recorded consent **{new.id}** for Barack Obama: education, "
                              "granted to any")
    assert [row[6] for row in rows] == ["revoked", "active"]


def test_amending_narrows_a_consent_into_a_new_one(admin: ConsentHandlers,
                                                   evidence: Path) -> None:
    enrol(admin, evidence, expires="2099-01-31")
    [old] = admin.service.list_consents()
    message, rows = amend(admin, f" {old.id} ", purposes="education")
    replaced, new = admin.service.list_consents()
    assert new.id != old.id and new.supersedes == old.id
    assert (replaced.id, replaced.status, replaced.superseded_by) == (old.id, "superseded", new.id)
    assert (new.purposes, new.grantees, new.valid_until) == (("education",), old.grantees,
                                                              old.valid_until)
    assert new.evidence_sha256 == old.evidence_sha256  # narrowing keeps the evidence
    assert message == (f"Amended consent **{old.id}**: consent **{new.id}** replaces it, for "
                       "Barack Obama: education, granted to bob, ui:alice, until "
                       "2099-01-31T00:00:00+00:00.")
    assert [(row[0], row[6]) for row in rows] == [(old.id, f"superseded by {new.id}"),
                                                  (new.id, "active")]
    assert admin.service.list_consents(granted_to="ui:alice") == [new]

    with pytest.raises(gr.Error, match=f"consent {old.id} is superseded"):
        amend(admin, old.id, purposes="education")
    with pytest.raises(gr.Error, match="evidence: this amendment widens the consent"):
        amend(admin, new.id, grantees="any")  # widening without new evidence
    with pytest.raises(gr.Error, match="evidence: this amendment widens the consent"):
        amend(admin, new.id, expires="none")  # no expiry is a later end
    with pytest.raises(gr.Error, match="the amendment changes nothing"):
        amend(admin, new.id)
    with pytest.raises(gr.Error, match="id: give the id of the consent to amend"):
        amend(admin, "  ", purposes="education")

    signed = write_release_pdf(evidence.with_name("amendment.pdf"), "Amendment: anyone, ever.")
    message, _ = amend(admin, new.id, grantees="any", expires="none", evidence=str(signed))
    latest = admin.service.list_consents()[-1]
    assert (latest.supersedes, latest.grantees, latest.valid_until) == (new.id, ("any",), None)
    assert latest.evidence_sha256 != new.evidence_sha256
    assert message.endswith("granted to any, until no expiry.")


def test_typed_purposes_grantees_and_expiry_dates() -> None:
    """One rule for every surface: the UI's text boxes, the API's repeated or comma fields and
    the CLI's repeated flags."""
    assert split_labels("education, news;ads ") == ["education", "news", "ads"]
    assert split_labels("every one, ops") == ["every one", "ops"]  # refused later, not split
    assert split_labels(None) == [] and split_labels([]) == []
    assert split_labels(" ui:alice,bob ; any ") == ["ui:alice", "bob", "any"]
    assert split_labels(["education,news", "ads", None]) == ["education", "news", "ads"]
    assert parse_amended_expiry("") is KEEP and parse_amended_expiry(None) is KEEP
    assert parse_amended_expiry(" None ") is None and parse_amended_expiry("never") is None
    assert parse_amended_expiry("2030-05-01") == datetime(2030, 5, 1, tzinfo=timezone.utc)
    assert parse_expiry("") is None
    assert parse_expiry("2030-05-01") == datetime(2030, 5, 1, tzinfo=timezone.utc)
    assert parse_expiry("2030-05-01T12:00:00Z") == datetime(2030, 5, 1, 12, tzinfo=timezone.utc)
    with pytest.raises(InputError, match="expires"):
        parse_expiry("05/01/2030")
