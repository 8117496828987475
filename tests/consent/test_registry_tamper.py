"""Rewrites by someone with write access to registry.db: each is named by audit-verify, and the
gate refuses what it would otherwise have let through (issue 13's four attacks, run as attacks:
plain SQL on the database file, with everything a careful attacker would also fix up)."""

from __future__ import annotations

import uuid

import pytest

from sonic_ext.consent import ConsentGate, GateRefused
from sonic_ext.consent.audit import event_hash
from sonic_ext.consent.gate import RULE_REGISTRY_ALTERED
from sonic_ext.consent.integrity import Anchor
from sonic_ext.consent.signing import CheckpointError, create_consent_key
from sonic_ext.errors import InputError
from sonic_ext.identity import load_portrait

from ..raw_database import RawDatabase, raw
from .conftest import FACES, enrol


def refused_as_altered(gate: ConsentGate, portrait: str, claims: list[str]) -> str:
    with pytest.raises(GateRefused) as refused:
        gate.check(FACES / portrait, "education", "tester", claims)
    assert refused.value.decision.rule == RULE_REGISTRY_ALTERED, refused.value.decision.message
    return refused.value.decision.message


def rehash_from(db: RawDatabase, first: int) -> None:
    """What an attacker does after editing event `first`: recompute every later link and the
    head, as the plain chain allows."""
    prev = db.execute("SELECT hash FROM audit_events WHERE seq = ?", (first - 1,)).fetchone()
    prev_hash = prev[0] if prev else "0" * 64
    rows = db.execute("SELECT seq, at, actor, action, payload FROM audit_events WHERE seq >= ? "
                      "ORDER BY seq", (first,)).fetchall()
    for seq, at, actor, action, payload in rows:
        digest = event_hash(seq, at, actor, action, payload, prev_hash)
        db.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",
                   (prev_hash, digest, seq))
        prev_hash = digest
    db.execute("UPDATE registry_head SET audit_seq = ?, audit_hash = ?", (rows[-1][0], prev_hash))


@pytest.fixture
def obama(registry, evidence):
    return enrol(registry, "Barack Obama", "obama.jpg", evidence)


def test_normal_use_verifies_against_its_signed_checkpoints(registry, gate, obama, settings):
    gate.check(FACES / "obama2.jpg", "education", "tester", [obama.id])
    registry.revoke_consent(obama.id, "withdrawn", actor="operator")
    report = registry.verify_chain()
    assert report.ok, report.problems
    assert (report.events_checked, report.checkpoint_size) == (3, 3)
    assert report.anchors_checked == 1  # the checkpoint file under <home>/audit
    assert (settings.home / "audit" / "checkpoint.txt").read_text().split("\n")[1] == "3"


def test_1_deleting_the_last_event_and_winding_the_head_back(registry, gate, obama, settings):
    """The revocation is the last event: the attacker deletes it and its checkpoint, winds the
    head back, and restores the consent row as it was signed before the revocation."""
    with raw(settings) as db:
        before = db.execute("SELECT signature, state_seq FROM consents").fetchone()
    registry.revoke_consent(obama.id, "withdrawn", actor="operator")
    with raw(settings) as db:
        last = db.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
        db.execute("DELETE FROM audit_events WHERE seq = ?", (last,))
        db.execute("DELETE FROM audit_checkpoints WHERE size = ?", (last,))
        prev = db.execute("SELECT hash FROM audit_events WHERE seq = ?", (last - 1,)).fetchone()
        db.execute("UPDATE registry_head SET audit_seq = ?, audit_hash = ?", (last - 1, prev[0]))
        db.execute("UPDATE consents SET revoked_at = NULL, revoked_by = NULL, "
                   "revoke_reason = NULL, signature = ?, state_seq = ?", before)
    report = registry.verify_chain()
    assert not report.ok
    assert any("it was rewound and events were removed" in p for p in report.problems)
    message = refused_as_altered(ConsentGate(registry), "obama2.jpg", [obama.id])
    assert "rewound" in message


def test_2_editing_an_event_and_recomputing_every_later_hash(registry, gate, obama, settings):
    gate.check(FACES / "obama2.jpg", "education", "tester", [obama.id])
    gate.check(FACES / "obama2.jpg", "education", "tester", [obama.id])
    with raw(settings) as db:
        db.execute("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2")
        rehash_from(db, 2)
    report = registry.verify_chain()
    assert not report.ok and report.broken_seq == 2
    assert "event 2 differs from what the consent key signed" in report.problem
    message = refused_as_altered(gate, "obama2.jpg", [obama.id])
    assert "head is not the one the consent key signed" in message


def test_3_undoing_a_revocation_by_sql(registry, gate, obama, settings):
    registry.revoke_consent(obama.id, "withdrawn", actor="operator")
    with raw(settings) as db:
        db.execute("UPDATE consents SET revoked_at = NULL")
    report = registry.verify_chain()
    assert not report.ok
    assert any(f"consent {obama.id} is not as the consent key signed it" in p
               for p in report.problems)
    message = refused_as_altered(gate, "obama2.jpg", [obama.id])
    assert obama.id in message


def test_4_inserting_an_unconsented_person(registry, gate, obama, settings):
    """Biden never consented: subject, consent and face reference are inserted by SQL, with
    no evidence and no audit event. Today's gate passed him at similarity 1.000."""
    backend = registry.backends.get("dlib")
    face = backend.faces(load_portrait(FACES / "biden.jpg", "portrait"), 40)[0]
    now = "2020-01-01 00:00:00.000000"  # valid from long before the test clock
    consent_id = f"con_{uuid.uuid4().hex[:12]}"
    with raw(settings) as db:
        db.execute("INSERT INTO subjects (id, name, created_at) VALUES ('sub_fake', 'Joe', ?)",
                   (now,))
        db.execute("INSERT INTO consents (id, subject_id, purposes, valid_from, evidence_file, "
                   "evidence_sha256, recorded_by, recorded_at, grantees) VALUES (?, 'sub_fake', "
                   "'[\"education\"]', ?, 'none', ?, 'operator', ?, '[\"any\"]')",
                   (consent_id, now, "0" * 64, now))
        db.execute("INSERT INTO face_references (subject_id, consent_id, backend, model_id, "
                   "embedding, source_sha256, created_at) VALUES ('sub_fake', ?, 'dlib', ?, ?, "
                   "?, ?)", (consent_id, backend.model_id,
                             face.embedding.astype("<f4").tobytes(), "0" * 64, now))
        db.execute("UPDATE registry_head SET references_version = references_version + 1")
    report = registry.verify_chain()
    assert not report.ok
    problems = "\n".join(report.problems)
    assert "subject sub_fake is not signed" in problems
    assert f"consent {consent_id} is not as the consent key signed it" in problems
    assert "face reference 2 (subject sub_fake) is not signed" in problems
    refused_as_altered(gate, "biden.jpg", [consent_id])  # 0.1.0 passed this at 1.000
    # the legitimate consent is untouched and still passes
    assert gate.check(FACES / "obama2.jpg", "education", "tester", [obama.id]).passed


def test_a_reference_swapped_into_a_real_subject_is_refused(registry, gate, obama, settings):
    """Biden's embedding written over Obama's signed reference: it never enters the matrix."""
    backend = registry.backends.get("dlib")
    face = backend.faces(load_portrait(FACES / "biden.jpg", "portrait"), 40)[0]
    with raw(settings) as db:
        db.execute("UPDATE face_references SET embedding = ?",
                   (face.embedding.astype("<f4").tobytes(),))
    fresh = ConsentGate(type(registry).open(settings, registry.policy,
                                            backends=registry.backends))
    try:
        message = refused_as_altered(fresh, "biden2.jpg", [obama.id])
        assert "face references of subject" in message
    finally:
        fresh.registry.database.dispose()


def test_a_rolled_back_consent_row_is_stale(registry, gate, obama, settings, evidence):
    """An amendment narrowed the purposes; the attacker restores the old row's signed state."""
    with raw(settings) as db:
        before = db.execute("SELECT superseded_by, signature, state_seq FROM consents").fetchone()
    registry.amend_consent(obama.id, "operator", purposes=["education"], grantees=["tester"])
    with raw(settings) as db:
        db.execute("UPDATE consents SET superseded_by = ?, signature = ?, state_seq = ? "
                   "WHERE id = ?", (*before, obama.id))
    report = registry.verify_chain()
    assert any(f"consent {obama.id} holds the state of event 1, but event 2 changed it" in p
               for p in report.problems)
    message = refused_as_altered(gate, "obama2.jpg", [obama.id])
    assert "rolled back" in message


def test_manifest_and_exported_checkpoints_anchor_the_log(registry, gate, obama, settings):
    decision = gate.check(FACES / "obama2.jpg", "education", "tester", [obama.id])
    assert decision.audit_checkpoint.split("\n")[1] == str(decision.audit_seq)
    anchor = Anchor("manifest of out.mp4", decision.audit_checkpoint)
    assert registry.verify_chain([anchor]).ok
    # a rewrite of everything up to the head, checkpoint file and DB checkpoints included,
    # is still caught by the anchor the manifest kept (the attacker cannot sign a new one)
    (settings.home / "audit" / "checkpoint.txt").unlink()
    with raw(settings) as db:
        db.execute("UPDATE audit_events SET actor = 'nobody' WHERE seq = 1")
        db.execute("DELETE FROM audit_checkpoints")
        rehash_from(db, 1)
    report = registry.verify_chain([anchor])
    assert any(p.startswith("manifest of out.mp4: event 2 is not the one the consent key "
                            "signed") for p in report.problems)


def test_checkpoints_are_signed_notes_only_this_key_verifies(registry, obama, tmp_path):
    note = registry.checkpoints()[-1][1]
    body, _, signature = note.rpartition("\n\n")
    assert body.split("\n")[0] == registry.key.origin
    assert signature.startswith("\u2014 sonic-registry-")
    other = create_consent_key(tmp_path / "other.pem")
    with pytest.raises(CheckpointError, match="not of this registry"):
        other.read_checkpoint(note)
    forged = note.replace("\n1\n", "\n7\n", 1)
    with pytest.raises(CheckpointError, match="not signed by this registry"):
        registry.key.read_checkpoint(forged)


def test_the_key_file_is_private_and_a_lost_key_is_an_error(registry, obama, settings):
    path = settings.keys_dir / "consent-key.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    path.unlink()
    with pytest.raises(InputError, match="this registry is signed, but its consent key"):
        type(registry).open(settings, registry.policy, backends=registry.backends)


def test_unsigned_rows_are_adopted_only_when_the_log_recorded_them(registry, gate, obama,
                                                                    settings):
    """A registry from before signing: the rows the log recorded are adopted by an admin; a
    row inserted by SQL is not."""
    with raw(settings) as db:
        db.execute("UPDATE subjects SET signature = NULL")
        db.execute("UPDATE consents SET signature = NULL, state_seq = NULL")
        db.execute("UPDATE face_references SET signature = NULL")
        db.execute("DELETE FROM audit_checkpoints")
        db.execute("UPDATE consents SET purposes = '[\"education\",\"commercial\"]'")
    (settings.home / "audit" / "checkpoint.txt").unlink()
    refused_as_altered(gate, "obama2.jpg", [obama.id])
    result = registry.adopt_unsigned("operator")
    assert result["consents"] == [] and obama.id in result["left_unsigned"]  # terms edited
    with raw(settings) as db:
        db.execute("UPDATE consents SET purposes = '[\"education\"]'")
    result = registry.adopt_unsigned("operator")
    assert result["consents"] == [obama.id] and result["left_unsigned"] == []
    fresh = ConsentGate(type(registry).open(settings, registry.policy,
                                            backends=registry.backends))
    try:
        assert fresh.check(FACES / "obama2.jpg", "education", "tester", [obama.id]).passed
        assert fresh.registry.verify_chain().ok
    finally:
        fresh.registry.database.dispose()
