"""The audit chain: intact after normal use, broken visibly by any edit made behind its back."""

from __future__ import annotations

import pytest

from sonic_ext.consent import ConsentGate, GateRefused
from sonic_ext.consent.audit import GENESIS_HASH, event_hash

from ..raw_database import raw
from .conftest import FACES, enrol


@pytest.fixture
def logged(registry, evidence):
    """A registry with four events: add, gate pass, revoke, gate refusal."""
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    gate = ConsentGate(registry)
    gate.check(FACES / "obama2.jpg", "education", "tester", [consent.id])
    registry.revoke_consent(consent.id, "withdrawn", actor="operator")
    with pytest.raises(GateRefused):
        gate.check(FACES / "obama2.jpg", "education", "tester", [consent.id])
    assert registry.verify_chain().ok
    return registry


def test_chain_of_normal_use_verifies(logged):
    report = logged.verify_chain()
    assert report.ok and report.events_checked == 4 and report.broken_seq is None


def test_hash_covers_every_field_and_the_previous_hash():
    base = (1, "2026-01-01T00:00:00.000000Z", "alice", "consent.add", '{"a":1}', GENESIS_HASH)
    digest = event_hash(*base)
    for i in range(len(base)):
        changed = list(base)
        changed[i] = changed[i] + 1 if isinstance(changed[i], int) else changed[i] + "x"
        assert event_hash(*changed) != digest


def test_editing_an_event_names_it(logged, settings):
    with raw(settings) as db:
        db.execute("UPDATE audit_events SET payload = replace(payload, 'withdrawn', 'kept') "
                   "WHERE seq = 3")
    report = logged.verify_chain()
    assert not report.ok and report.broken_seq == 3
    assert "event 3 was altered" in report.problem
    assert report.events_checked == 4  # the walk goes on, to name every problem


def test_rehashing_an_edited_event_is_named_by_its_signed_checkpoint(logged, settings):
    with raw(settings) as db:
        seq, at, actor, action, payload, prev = db.execute(
            "SELECT seq, at, actor, action, payload, prev_hash FROM audit_events WHERE seq = 2"
        ).fetchone()
        payload = payload.replace('"passed":true', '"passed":false')
        db.execute("UPDATE audit_events SET payload = ?, hash = ? WHERE seq = 2",
                   (payload, event_hash(seq, at, actor, action, payload, prev)))
    report = logged.verify_chain()
    assert (report.ok, report.broken_seq) == (False, 2)
    assert "event 2 differs from what the consent key signed" in report.problem
    assert any("does not link to event 2" in p for p in report.problems)


def test_deleting_an_event_names_the_gap(logged, settings):
    with raw(settings) as db:
        db.execute("DELETE FROM audit_events WHERE seq = 2")
    report = logged.verify_chain()
    assert (report.ok, report.broken_seq) == (False, 2)
    assert "event 2 is missing" in report.problem


def test_cutting_off_the_newest_events_is_detected(logged, settings):
    with raw(settings) as db:
        db.execute("DELETE FROM audit_events WHERE seq = 4")
    report = logged.verify_chain()
    assert (report.ok, report.broken_seq) == (False, 4)
    assert "a signed checkpoint covers 4 events but the log has 3" in report.problem
    assert any("newest events were removed" in p for p in report.problems)
