"""Registry API: what add_consent refuses, what it stores, list/show/revoke, generations."""

from __future__ import annotations

import hashlib
import stat
import time
from datetime import timedelta

import pytest

from sonic_ext.consent import ConsentRegistry, database
from sonic_ext.consent.models import FaceReference
from sonic_ext.errors import Conflict, InputError, NotFound, RegistryBusy

from ..evidence import write_release_pdf
from ..identity.tiny_pack import MODEL_ID as TINY_MODEL_ID
from ..raw_database import raw
from .conftest import FACES, enrol

DLIB_MODEL = "dlib/face_recognition_resnet_model_v1"


def test_consent_stores_evidence_copy_hash_and_dlib_references(registry, evidence, settings):
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence, purposes=("news", "education"))
    assert consent.purposes == ("education", "news") and consent.status == "active"
    assert consent.reference_models == (DLIB_MODEL,)
    digest = hashlib.sha256(evidence.read_bytes()).hexdigest()
    assert consent.evidence_sha256 == digest
    assert consent.evidence_path.parent == settings.evidence_dir
    assert consent.evidence_path.read_bytes() == evidence.read_bytes()
    assert stat.S_IMODE(consent.evidence_path.stat().st_mode) == 0o600
    with registry.database.read() as session:
        refs = session.query(FaceReference).all()
    assert len(refs) == 1 and len(refs[0].embedding) == 128 * 4
    portrait_hash = hashlib.sha256((FACES / "obama.jpg").read_bytes()).hexdigest()
    assert refs[0].source_sha256 == portrait_hash


def test_enrolment_stores_references_for_every_available_backend(open_registry, both_backends,
                                                                 evidence):
    consent = enrol(open_registry(backends=both_backends), "Barack Obama", "obama.jpg", evidence)
    assert consent.reference_models == (DLIB_MODEL, TINY_MODEL_ID)


@pytest.mark.parametrize("content, problem", [(None, "file not found"), (b"", "file is empty")])
def test_missing_or_empty_evidence_is_refused(registry, tmp_path, content, problem):
    path = tmp_path / "release.pdf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as info:
        enrol(registry, "Barack Obama", "obama.jpg", path)
    assert info.value.field == "evidence"


def test_portrait_with_two_faces_is_refused(registry, evidence, pair_photo):
    with pytest.raises(InputError, match="2 faces found") as info:
        registry.add_consent("Two People", [pair_photo], evidence, ["education"], None, "op",
                             grantees=["any"])
    assert info.value.field == "portrait"


def test_portrait_without_a_face_is_refused(registry, evidence, portrait):
    with pytest.raises(InputError, match="no face found") as info:
        registry.add_consent("Nobody", [portrait], evidence, ["education"], None, "op",
                             grantees=["any"])
    assert info.value.field == "portrait"


def test_portraits_of_different_people_are_refused(registry, evidence):
    with pytest.raises(InputError, match="do not show the same person"):
        registry.add_consent("Mixed", [FACES / "obama.jpg", FACES / "biden.jpg"], evidence,
                             ["education"], None, "op", grantees=["any"])


@pytest.mark.parametrize("purposes, field", [([], "purposes"), (["two words"], "purposes")])
def test_purposes_must_be_named_labels(registry, evidence, purposes, field):
    with pytest.raises(InputError) as info:
        registry.add_consent("Barack Obama", [FACES / "obama.jpg"], evidence, purposes, None, "op",
                             grantees=["any"])
    assert info.value.field == field


def test_expiry_in_the_past_is_refused(registry, evidence, clock):
    with pytest.raises(InputError, match="not in the future") as info:
        enrol(registry, "Barack Obama", "obama.jpg", evidence, expires=clock.now)
    assert info.value.field == "expires"


def test_nothing_is_stored_when_enrolment_is_refused(registry, evidence, tmp_path):
    """The duplicate check runs inside the transaction, after the evidence was copied."""
    enrol(registry, "Barack Obama", "obama.jpg", evidence)
    other = write_release_pdf(tmp_path / "other.pdf", "a second release")
    with pytest.raises(InputError, match="enrolled already"):
        enrol(registry, "Someone Else", "obama2.jpg", other)
    kept = {p.name for p in registry.evidence_dir.iterdir()}
    assert kept == {hashlib.sha256(evidence.read_bytes()).hexdigest() + ".pdf"}
    assert len(registry.list_consents()) == 1
    assert registry.verify_chain().events_checked == 1


def test_enrolling_an_enrolled_face_again_needs_the_subject(registry, evidence):
    first = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    with pytest.raises(InputError, match="enrolled already") as info:
        enrol(registry, "B. Obama", "obama2.jpg", evidence)
    assert first.subject_id in info.value.hint
    second = enrol(registry, "Barack Obama", "obama2.jpg", evidence, purposes=("news",),
                   subject_id=first.subject_id)
    assert second.subject_id == first.subject_id and second.id != first.id


def test_a_consent_for_a_subject_needs_their_face(registry, evidence):
    obama = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    with pytest.raises(InputError, match="does not show Barack Obama"):
        enrol(registry, "Barack Obama", "biden.jpg", evidence, subject_id=obama.subject_id)
    with pytest.raises(InputError, match="not 'Joe Biden'"):
        enrol(registry, "Joe Biden", "obama2.jpg", evidence, subject_id=obama.subject_id)


def test_list_show_and_revoke(registry, evidence, clock):
    obama = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    biden = enrol(registry, "Joe Biden", "biden.jpg", evidence,
                  expires=clock.now + timedelta(days=1))
    clock.advance(timedelta(hours=1))
    revoked = registry.revoke_consent(obama.id, "asked to stop", actor="admin")
    assert (revoked.status, revoked.revoked_by, revoked.revoke_reason) == (
        "revoked", "admin", "asked to stop")
    assert revoked.revoked_at == clock.now
    clock.advance(timedelta(days=2))
    statuses = {c.id: c.status for c in registry.list_consents()}
    assert statuses == {obama.id: "revoked", biden.id: "expired"}
    details = registry.show_consent(obama.id)
    assert [e.action for e in details.history] == ["consent.add", "consent.revoke"]
    assert details.history[1].payload["reason"] == "asked to stop"
    assert details.to_dict()["history"][0]["payload"]["consent_id"] == obama.id
    with pytest.raises(Conflict, match="revoked already"):
        registry.revoke_consent(obama.id, "again", actor="admin")
    with pytest.raises(NotFound, match="no consent with id") as info:
        registry.show_consent("con_000000000000")
    assert info.value.field == "id" and info.value.http_status == 404


def test_generations_are_recorded_and_found(registry, evidence):
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    output = "ab" * 32
    record = registry.record_generation(
        consent_id=consent.id, status="published", actor="alice", output_sha256=output,
        watermark_id="wm-0001", manifest={"claim": "sonic"}, parameters={"seed": 7})
    assert registry.find_generation(watermark_id="wm-0001") == record
    assert registry.find_generation(output_sha256=output).id == record.id
    assert registry.find_generation(watermark_id="wm-unknown") is None
    failed = registry.record_generation(consent_id=consent.id, status="failed", actor="alice",
                                        parameters={"seed": 8})
    assert failed.status == "failed" and failed.output_sha256 is None
    with pytest.raises(InputError, match="recorded already"):
        registry.record_generation(consent_id=consent.id, status="published", actor="alice",
                                   output_sha256=output, watermark_id="wm-0001")
    with pytest.raises(InputError, match="no consent"):
        registry.record_generation(consent_id="con_missing", status="failed", actor="alice")
    actions = [e.action for e in registry.show_consent(consent.id).history]
    assert actions == ["consent.add", "generation.record", "generation.record"]


def test_a_generation_keeps_its_fingerprint_and_the_audit_log_its_hash(registry, evidence):
    import numpy as np

    from sonic_ext.provenance.fingerprint import FingerprintRecorder

    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    recorder = FingerprintRecorder(25)
    recorder.add(np.full((30, 256, 256, 3), 90, np.uint8))
    blob = recorder.finish()
    record = registry.record_generation(consent_id=consent.id, status="published",
                                        actor="alice", output_sha256="cd" * 32,
                                        watermark_id="wm-0002", fingerprint=blob)
    traced = registry.trace_watermark("wm-0002")
    assert traced is not None and traced.fingerprint == blob
    assert traced.generation == record and traced.consent.id == consent.id
    assert "fingerprint" not in record.to_dict()  # the report carries records, not blobs
    event = registry.show_consent(consent.id).history[-1]
    assert event.payload["fingerprint_sha256"] == hashlib.sha256(blob).hexdigest()
    assert registry.trace_watermark("wm-none") is None
    with pytest.raises(InputError, match="not a fingerprint"):
        registry.record_generation(consent_id=consent.id, status="published", actor="alice",
                                   output_sha256="ef" * 32, watermark_id="wm-0003",
                                   fingerprint=b"not one")
    assert registry.find_generation(watermark_id="wm-0003") is None
    assert registry.verify_chain().ok


def test_registry_survives_reopening(registry, evidence, settings, policy, dlib_backends):
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    again = ConsentRegistry.open(settings, policy, backends=dlib_backends)
    try:
        assert [c.id for c in again.list_consents()] == [consent.id]
        assert again.verify_chain().ok
    finally:
        again.database.dispose()


def test_a_writer_waits_for_the_registry_lock_at_most_the_busy_timeout(
        open_registry, evidence, settings, monkeypatch):
    """Another writer (a stuck process, another machine) holding the lock: a revocation gives
    up after the busy timeout with RegistryBusy, and goes through once the lock is free."""
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.5)  # not a minute, in a test
    registry = open_registry()
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    with raw(settings) as other:
        other.take_write_lock()
        started = time.monotonic()
        with pytest.raises(RegistryBusy, match=r"locked by another writer \(waited 0.5 s\)"):
            registry.revoke_consent(consent.id, "withdrawn", actor="operator")
        assert time.monotonic() - started < 10
        other.execute("ROLLBACK")
    assert registry.revoke_consent(consent.id, "withdrawn", actor="operator").revoked_at
    assert registry.verify_chain().ok
