"""The consent registry: who consented to what, with which evidence, and their face references.

Every change is one transaction that also appends its audit event, so the log never misses a
change nor records one that did not happen. A person is one subject with any number of
consents: enrolling a face that matches an enrolled subject is refused unless the new consent is
recorded for that subject (`subject_id`: a renewal), so one face never stands for two registry
identities. A consent is never edited: an amendment (purposes, validity, grantees) is a new
consent that supersedes the old one, so history shows every version and the gate the one in
force.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from ..errors import Conflict, ConsentRefused, InputError, NotFound
from ..identity import DetectedFace, FaceBackend, FaceBackends, Portrait, load_portrait
from ..policy import Policy
from ..settings import Settings
from .audit import GENESIS_HASH, append_event, canonical_json, link_problem, to_entry
from .credentials import ConsentIssuer, consent_credential, load_issuer, status_list
from .database import RegistryDatabase
from .evidence import check_evidence_file, store_evidence
from .fields import KEEP, check_expiry, check_purposes, check_text
from .grantees import check_grantees, is_granted
from .integrity import (
    Anchor,
    audit_report,
    claim_problem,
    consent_problem,
    latest_states,
    read_checkpoint_file,
    tail_problem,
    write_checkpoint_file,
)
from .models import (
    AuditCheckpoint,
    AuditEvent,
    Consent,
    FaceReference,
    Generation,
    RegistryHead,
    Subject,
)
from .records import (
    AuditEntry,
    ChainReport,
    Clock,
    ConsentDetails,
    ConsentRecord,
    GenerationRecord,
    TracedGeneration,
    consent_status,
    iso,
    utc_now,
)
from .references import ReferenceCache
from .signing import (
    ENV_KEY_FILE,
    KEY_FILE,
    ConsentKey,
    consent_fields,
    create_consent_key,
    load_consent_key,
    reference_fields,
    subject_fields,
)

GENERATION_STATUSES = ("published", "failed")
CHECKPOINT_FILE = "checkpoint.txt"  # under <home>/audit: the latest signed checkpoint


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass(frozen=True, eq=False)
class _Enrolment:
    """One portrait's face as one backend sees it."""

    portrait: Portrait
    face: DetectedFace


class ConsentRegistry:
    """The registry of one installation. Thread-safe; open one per process."""

    def __init__(self, database: RegistryDatabase, policy: Policy, backends: FaceBackends,
                 evidence_dir: Path, issuer: ConsentIssuer, clock: Clock = utc_now,
                 checkpoint_file: Path | None = None) -> None:
        self.database = database
        self.policy = policy
        self.backends = backends
        self.evidence_dir = evidence_dir
        self.issuer = issuer
        self.key = issuer.key
        self.clock = clock
        self.checkpoint_file = checkpoint_file
        self.references = ReferenceCache(issuer.key)

    @classmethod
    def open(cls, settings: Settings, policy: Policy, *, backends: FaceBackends | None = None,
             clock: Clock = utc_now) -> ConsentRegistry:
        """Open (creating or migrating) the database at `settings.database_url`, with the
        installation's consent key (made on first use; see `open_consent_key`)."""
        database = RegistryDatabase.open(settings.database_url)
        try:
            key = open_consent_key(settings, database)
            issuer = load_issuer(key, settings.keys_dir, settings.consent_chain_file,
                                 settings.consent_anchors_file)
        except BaseException:
            database.dispose()
            raise
        return cls(database, policy, backends or FaceBackends(settings.models_dir),
                   settings.evidence_dir, issuer, clock,
                   checkpoint_file=settings.home / "audit" / CHECKPOINT_FILE)

    # -- writing ------------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[tuple[Session, RegistryHead]]:
        """`database.write()`, then, once committed, the new checkpoint into the checkpoint
        file (outside the database, so a rewound database disagrees with it)."""
        with self.database.write() as (session, head):
            yield session, head
        note = session.info.pop("checkpoint", None)
        if note is not None and self.checkpoint_file is not None:
            write_checkpoint_file(self.checkpoint_file, note[1], note[0])

    def append(self, session: Session, head: RegistryHead, *, actor: str, action: str,
               payload: dict[str, Any], at: datetime) -> AuditEntry:
        """The next audit event and its signed checkpoint (inside a `writing()` transaction)."""
        entry = append_event(session, head, actor=actor, action=action, payload=payload, at=at)
        note = self.key.checkpoint(entry.seq, entry.hash)
        session.add(AuditCheckpoint(size=entry.seq, note=note))
        session.info["checkpoint"] = (entry.seq, note)
        return replace(entry, checkpoint=note)

    def _seal_consent(self, consent: Consent, state_seq: int) -> None:
        consent.state_seq = state_seq
        consent.signature = self.key.sign("consent", consent_fields(consent))

    def _issue_credential(self, session: Session, consent: Consent, subject: Subject) -> None:
        """The consent's signed credential (after its row and references are sealed)."""
        references = session.scalars(select(FaceReference)
                                     .where(FaceReference.subject_id == subject.id)).all()
        named = bool(self.policy.data["provenance"]["credential_subject_name"])
        consent.credential = consent_credential(self.issuer, consent, references,
                                                subject.name if named else None)

    @staticmethod
    def _next_status_index(session: Session) -> int:
        highest = session.scalar(select(func.max(Consent.status_index)))
        return 0 if highest is None else highest + 1

    def _seal_subject(self, subject: Subject) -> None:
        subject.signature = self.key.sign("subject", subject_fields(subject))

    def _seal_reference(self, reference: FaceReference) -> None:
        reference.signature = self.key.sign("reference", reference_fields(reference))

    # -- integrity ----------------------------------------------------------------------------

    def claim_problem(self, session: Session, consent: Consent, subject: Subject) -> str | None:
        """Why a consent and its subject, as stored, are not what the consent key signed."""
        return claim_problem(session, self.key, consent, subject)

    def tail_problem(self, session: Session, head: RegistryHead) -> str | None:
        """Why the audit chain's head cannot be trusted now (see `integrity.tail_problem`)."""
        return tail_problem(session, self.key, head, self.checkpoint_file)

    @property
    def min_face_px(self) -> int:
        return int(self.policy.data["faces"]["min_size_px"])

    @property
    def min_visible_px(self) -> int:
        return int(self.policy.data["faces"]["min_visible_px"])

    @property
    def identity_margin(self) -> float:
        return float(self.policy.data["identity"]["margin"])

    @staticmethod
    def references_version(session: Session) -> int:
        head = session.get(RegistryHead, 1)
        return head.references_version if head else 0

    # -- consents -----------------------------------------------------------------------------

    def add_consent(self, name: str | None, portraits: Sequence[Path], evidence: Path,
                    purposes: Sequence[str], expires: datetime | None, recorded_by: str, *,
                    grantees: Sequence[str], subject_id: str | None = None) -> ConsentRecord:
        """Record a consent with its evidence and enrol the person's face.

        Each portrait must show exactly one face of at least the policy's minimum size, for
        every available backend, and all portraits the same person. A face that matches an
        enrolled subject must be recorded for that subject (`subject_id`, a renewal; the name
        may then be left out). `grantees` say who may generate under it.
        """
        # 1. Check what was typed, cheapest first.
        if subject_id is not None:
            subject_id = check_text(subject_id, "subject_id", max_length=32)
        name = check_text(name, "name") if name or subject_id is None else None
        recorded_by = check_text(recorded_by, "recorded_by")
        purposes = check_purposes(purposes, self.policy.allowed_purposes)
        grantees = check_grantees(grantees)
        valid_until = check_expiry(expires, self.clock())
        check_evidence_file(evidence)
        # 2. One face per portrait, embedded by every available backend (slow: no lock held).
        enrolments = self._enrolments(portraits)
        # 3. Subject, consent, references, evidence and audit event: one transaction.
        with self.writing() as (session, head):
            now = self.clock()
            subject, is_new = self._subject_for(session, head, name, subject_id, enrolments,
                                                now)
            stored = store_evidence(evidence, self.evidence_dir)
            try:
                consent = Consent(
                    id=new_id("con"), subject_id=subject.id, purposes=list(purposes),
                    valid_from=now, valid_until=valid_until, evidence_file=stored.path.name,
                    evidence_sha256=stored.sha256, evidence_media_type=stored.media_type,
                    grantees=list(grantees), recorded_by=recorded_by, recorded_at=now,
                    status_index=self._next_status_index(session))
                session.add(consent)
                session.flush()
                references = _references(consent, enrolments)
                session.add_all(references)
                session.flush()
                head.references_version += 1
                entry = self.append(session, head, actor=recorded_by, action="consent.add",
                                    at=now, payload=_added_payload(consent, subject, is_new,
                                                                   enrolments))
                if is_new:
                    self._seal_subject(subject)
                self._seal_consent(consent, entry.seq)
                for reference in references:
                    self._seal_reference(reference)
                session.flush()
                self._issue_credential(session, consent, subject)
                return self._record(session, consent, subject, now)
            except BaseException:
                stored.discard()
                raise

    def amend_consent(self, consent_id: str, recorded_by: str, *,
                      purposes: Sequence[str] | None = None,
                      expires: datetime | None | type[KEEP] = KEEP,
                      grantees: Sequence[str] | None = None,
                      evidence: Path | None = None) -> ConsentRecord:
        """Replace a consent in force by a new one with other purposes, validity or grantees
        (what is not given is kept); the old one is superseded from this transaction on.

        Narrowing (fewer purposes or grantees, an earlier end) keeps the old evidence; anything
        that widens what the person agreed to needs new evidence of their agreement.
        """
        recorded_by = check_text(recorded_by, "recorded_by")
        if purposes is not None:
            purposes = check_purposes(purposes, self.policy.allowed_purposes)
        if grantees is not None:
            grantees = check_grantees(grantees)
        now = self.clock()
        if expires is not KEEP:
            expires = check_expiry(expires, now)  # type: ignore[arg-type]
        if evidence is not None:
            check_evidence_file(evidence)
        with self.writing() as (session, head):
            old, subject = self._consent(session, consent_id)
            status = self._status(old, now)
            if status != "active":
                raise Conflict("id", f"consent {old.id} is {status}; only a consent in force "
                                     "can be amended",
                               hint=f"record a new consent (`consent add --subject "
                                    f"{subject.id}`)")
            new_purposes = list(purposes) if purposes is not None else list(old.purposes)
            new_grantees = list(grantees) if grantees is not None else list(old.grantees)
            new_until = old.valid_until if expires is KEEP else expires
            widened = _widening(old, new_purposes, new_until, new_grantees)  # type: ignore[arg-type]
            if widened and evidence is None:
                raise InputError("evidence", f"this amendment widens the consent ({widened}): "
                                             "it needs new evidence that the person agreed",
                                 hint="attach the signed amendment or a recording (--evidence)")
            if not widened and (new_purposes, new_until, new_grantees) == (
                    list(old.purposes), old.valid_until, list(old.grantees)):
                raise InputError("purposes", "the amendment changes nothing",
                                 hint="give new purposes, an expiry or grantees")
            stored = store_evidence(evidence, self.evidence_dir) if evidence else None
            try:
                consent = Consent(
                    id=new_id("con"), subject_id=subject.id, purposes=new_purposes,
                    valid_from=now, valid_until=new_until,
                    evidence_file=stored.path.name if stored else old.evidence_file,
                    evidence_sha256=stored.sha256 if stored else old.evidence_sha256,
                    evidence_media_type=(stored.media_type if stored
                                         else old.evidence_media_type),
                    grantees=new_grantees, recorded_by=recorded_by, recorded_at=now,
                    supersedes=old.id, status_index=self._next_status_index(session))
                session.add(consent)
                session.flush()
                old.superseded_by = consent.id
                entry = self.append(session, head, actor=recorded_by, action="consent.amend",
                                    at=now, payload={**_consent_payload(consent, subject),
                                                     "supersedes": old.id,
                                                     "new_evidence": stored is not None})
                self._seal_consent(consent, entry.seq)
                self._seal_consent(old, entry.seq)
                self._issue_credential(session, consent, subject)
                return self._record(session, consent, subject, now)
            except BaseException:
                if stored:
                    stored.discard()
                raise

    def list_consents(self, granted_to: str | None = None) -> list[ConsentRecord]:
        """Every consent, oldest first, with its status now; with `granted_to`, only those in
        force that this requester may use (what a non-admin may see)."""
        now = self.clock()
        with self.database.read() as session:
            rows = session.execute(select(Consent, Subject).join(Subject)
                                   .order_by(Consent.recorded_at, Consent.id)).all()
            if granted_to is not None:
                rows = [(c, s) for c, s in rows if self._status(c, now) == "active"
                        and is_granted(c.grantees or (), granted_to)]
            models = self._reference_models(session)
            return [self._to_record(consent, subject, models.get(subject.id, ()), now)
                    for consent, subject in rows]

    def show_consent(self, consent_id: str) -> ConsentDetails:
        """One consent and its history: every audit event that names it."""
        now = self.clock()
        with self.database.read() as session:
            consent, subject = self._consent(session, consent_id)
            names_it = AuditEvent.payload.contains(f'"{consent.id}"', autoescape=True)
            if consent.supersedes:
                names_it = names_it | AuditEvent.payload.contains(f'"{consent.supersedes}"',
                                                                  autoescape=True)
            events = session.scalars(select(AuditEvent).where(names_it)
                                     .order_by(AuditEvent.seq))
            history = tuple(to_entry(e) for e in events)
            models = self._reference_models(session, subject.id)
            record = self._to_record(consent, subject, models.get(subject.id, ()), now)
        return ConsentDetails(record, history)

    def revoke_consent(self, consent_id: str, reason: str, actor: str) -> ConsentRecord:
        """Revoke now; from this transaction on, the gate refuses the person under it."""
        reason = check_text(reason, "reason", max_length=2000)
        actor = check_text(actor, "actor")
        with self.writing() as (session, head):
            consent, subject = self._consent(session, consent_id)
            if consent.revoked_at is not None:
                raise Conflict("id", f"consent {consent.id} was revoked already on "
                                       f"{iso(consent.revoked_at)}")
            now = self.clock()
            consent.revoked_at, consent.revoked_by, consent.revoke_reason = now, actor, reason
            entry = self.append(session, head, actor=actor, action="consent.revoke", at=now,
                                payload={"consent_id": consent.id, "subject_id": subject.id,
                                         "reason": reason, "revoked_at": iso(now)})
            self._seal_consent(consent, entry.seq)
            return self._record(session, consent, subject, now)

    def verify_chain(self, anchors: Sequence[Anchor] = ()) -> ChainReport:
        """Everything `audit-verify` checks (`integrity.audit_report`), against `anchors` and
        the checkpoint file."""
        anchors = list(anchors)
        outside = read_checkpoint_file(self.key, self.checkpoint_file)
        if outside is not None and not isinstance(outside, str):
            anchors.append(Anchor(str(self.checkpoint_file), outside.note))
        with self.database.read() as session:
            report = audit_report(session, self.key, anchors)
        if isinstance(outside, str):
            return replace(report, ok=False, problem=report.problem or outside,
                           problems=(*report.problems, outside))
        return report

    def consent_credentials(self, consent_ids: Sequence[str]) -> list[str]:
        """The signed credentials of these consents, in order (what a manifest carries)."""
        with self.database.read() as session:
            rows = {c.id: c for c in session.scalars(select(Consent)
                                                     .where(Consent.id.in_(consent_ids)))}
        missing = [c for c in consent_ids if c not in rows or not rows[c].credential]
        if missing:
            raise ConsentRefused(f"consent {missing[0]} has no signed credential",
                                 hint="an admin runs `sonic-ext consent adopt-unsigned`")
        return [str(rows[c].credential) for c in consent_ids]

    def status_list(self) -> str:
        """The signed revocation status list, now. Built only from consent rows as the consent
        key signed them and the audit log last changed them: a revocation undone by SQL (or a
        rolled-back row) refuses the list instead of publishing the consent as in force."""
        with self.database.read() as session:
            head = session.get(RegistryHead, 1)
            problem = self.tail_problem(session, head) if head else "no registry head"
            latest = latest_states(session)
            revoked = []
            for consent in session.scalars(select(Consent)
                                           .where(Consent.status_index.is_not(None))):
                problem = problem or consent_problem(self.key, consent, latest.get(consent.id))
                if consent.revoked_at is not None:
                    revoked.append(int(consent.status_index))  # type: ignore[arg-type]
        if problem:
            raise Conflict("registry", f"no status list was made: {problem}",
                           hint="`sonic-ext consent audit-verify` names every problem")
        return status_list(self.issuer, revoked, self.clock())

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every signed checkpoint, oldest first: what `consent audit-export` keeps off-site."""
        with self.database.read() as session:
            return [(size, note) for size, note in session.execute(
                select(AuditCheckpoint.size, AuditCheckpoint.note)
                .order_by(AuditCheckpoint.size))]

    def adopt_unsigned(self, actor: str) -> dict[str, list[str]]:
        """Sign the rows a registry made before signing existed, but only those its audit log
        recorded: a subject or consent some `consent.add`/`consent.amend` created, whose
        revocation matches the log's, and the references that event listed. Rows with no event
        (inserted by SQL) stay unsigned, and the gate keeps refusing them. Refused when the
        chain's links are broken."""
        actor = check_text(actor, "actor")
        with self.writing() as (session, head):
            recorded = _recorded_by_log(session)
            if recorded.broken:
                raise Conflict("audit log", f"the audit log is broken ({recorded.broken}); "
                                            "nothing was adopted",
                               hint="`sonic-ext consent audit-verify` names the problem")
            adopted: dict[str, list[str]] = {"subjects": [], "consents": [], "references": []}
            left: list[str] = []
            subjects = session.scalars(select(Subject).where(Subject.signature.is_(None))).all()
            consents = session.scalars(select(Consent).where(Consent.signature.is_(None))).all()
            references = session.scalars(select(FaceReference)
                                         .where(FaceReference.signature.is_(None))).all()
            for subject in subjects:
                (adopted["subjects"] if subject.id in recorded.subjects else left).append(
                    subject.id)
            for consent in consents:
                (adopted["consents"] if recorded.matches(consent) else left).append(consent.id)
            for reference in references:
                fits = (reference.consent_id, reference.model_id, reference.source_sha256) \
                    in recorded.references and reference.consent_id in adopted["consents"]
                (adopted["references"] if fits else left).append(f"reference {reference.id}")
            if not any(adopted.values()):
                return {**adopted, "left_unsigned": left}
            entry = self.append(session, head, actor=actor, action="registry.adopt",
                                at=self.clock(), payload={**adopted, "left_unsigned": left})
            for subject in subjects:
                if subject.id in adopted["subjects"]:
                    self._seal_subject(subject)
            for reference in references:
                if f"reference {reference.id}" not in left:
                    self._seal_reference(reference)
            session.flush()
            for consent in consents:
                if consent.id in adopted["consents"]:
                    if consent.status_index is None:
                        consent.status_index = self._next_status_index(session)
                    self._seal_consent(consent, entry.seq)
                    session.flush()
                    self._issue_credential(session, consent,
                                           session.get(Subject, consent.subject_id))
            head.references_version += 1
            return {**adopted, "left_unsigned": left}

    # -- generations --------------------------------------------------------------------------

    def record_generation(self, *, consent_id: str, status: str, actor: str,
                          output_sha256: str | None = None, watermark_id: str | None = None,
                          manifest: Mapping[str, Any] | None = None,
                          parameters: Mapping[str, Any] | None = None,
                          generation_id: str | None = None,
                          also_relies_on: Sequence[str] = (),
                          fingerprint: bytes | None = None) -> GenerationRecord:
        """Record a generation (published or failed) and its audit event in one transaction.

        `fingerprint` is the output's perceptual fingerprint (`provenance.fingerprint`); the
        audit event carries its sha256, the table the blob.

        A published generation is recorded just before the file appears, and only while its
        consent, and the consent of every other person it shows (`also_relies_on`), is still
        in force: a revocation or expiry of any during the minutes of generation stops the
        publish (ConsentRefused) instead of slipping through.
        """
        if status not in GENERATION_STATUSES:
            raise InputError("status",
                             f"{status!r} is not one of {', '.join(GENERATION_STATUSES)}")
        if status == "published" and not (output_sha256 and watermark_id):
            raise InputError("output_sha256", "a published generation needs its output sha256 "
                                              "and watermark id")
        if output_sha256 is not None:
            _check_sha256(output_sha256, "output_sha256")
        actor = check_text(actor, "actor")
        if generation_id is not None:
            generation_id = check_text(generation_id, "generation_id", max_length=32)
        manifest_json = _json_field(manifest, "manifest")
        parameters_json = _json_field(parameters, "parameters")
        if fingerprint is not None:
            _check_fingerprint(fingerprint)
        with self.writing() as (session, head):
            consent, _ = self._consent(session, consent_id, field="consent_id")
            now = self.clock()
            if status == "published":
                for other_id in dict.fromkeys([*also_relies_on, consent.id]):
                    self._require_in_force(session, *self._consent(session, other_id,
                                                                   "consent_id"), now)
            if watermark_id is not None and session.scalar(
                    select(Generation.id).where(Generation.watermark_id == watermark_id)):
                raise InputError("watermark_id", f"{watermark_id!r} is recorded already")
            row = Generation(id=generation_id or new_id("gen"), output_sha256=output_sha256,
                             watermark_id=watermark_id, manifest=dict(manifest or {}),
                             consent_id=consent_id, parameters=dict(parameters or {}),
                             status=status, created_at=now, fingerprint=fingerprint)
            session.add(row)
            session.flush()
            self.append(session, head, actor=actor, action="generation.record", at=now,
                        payload={"generation_id": row.id, "consent_id": consent_id,
                                 "consent_ids": list(dict.fromkeys([consent_id,
                                                                    *also_relies_on])),
                                 "status": status, "output_sha256": output_sha256,
                                 "watermark_id": watermark_id,
                                 "manifest_sha256": _sha256_text(manifest_json),
                                 "parameters_sha256": _sha256_text(parameters_json),
                                 "fingerprint_sha256": (hashlib.sha256(fingerprint).hexdigest()
                                                        if fingerprint is not None else None)})
            return _generation_record(row)

    def mark_generation_failed(self, generation_id: str, actor: str, error: str
                               ) -> GenerationRecord:
        """A generation recorded as published whose file then never appeared."""
        actor = check_text(actor, "actor")
        with self.writing() as (session, head):
            row = session.get(Generation, generation_id)
            if row is None:
                raise InputError("generation_id", f"no generation with id {generation_id!r}")
            row.status = "failed"
            self.append(session, head, actor=actor, action="generation.fail", at=self.clock(),
                        payload={"generation_id": row.id, "error": error[:2000]})
            return _generation_record(row)

    def find_generation(self, *, watermark_id: str | None = None,
                        output_sha256: str | None = None) -> GenerationRecord | None:
        """The generation with this watermark id or output hash (the newest), or None."""
        if (watermark_id is None) == (output_sha256 is None):
            raise InputError("watermark_id", "give either a watermark id or an output sha256")
        column = Generation.watermark_id if watermark_id is not None else Generation.output_sha256
        with self.database.read() as session:
            row = session.scalars(select(Generation)
                                  .where(column == (watermark_id or output_sha256))
                                  .order_by(Generation.created_at.desc()).limit(1)).first()
            return _generation_record(row) if row else None

    def published_watermark_ids(self) -> list[str]:
        """Every watermark ID of a published generation: what the detector may match a weak
        mark against (informed detection)."""
        with self.database.read() as session:
            return list(session.scalars(select(Generation.watermark_id)
                                        .where(Generation.status == "published",
                                               Generation.watermark_id.is_not(None))))

    def trace_watermark(self, watermark_id: str) -> TracedGeneration | None:
        """What a watermark found in a file leads to: its generation, that generation's consent
        as it stands now, and the output's fingerprint; None when no generation has this ID."""
        with self.database.read() as session:
            row = session.scalars(select(Generation).options(undefer(Generation.fingerprint))
                                  .where(Generation.watermark_id == watermark_id)).first()
            if row is None:
                return None
            consent, subject = self._consent(session, row.consent_id)
            models = self._reference_models(session, subject.id).get(subject.id, ())
            return TracedGeneration(_generation_record(row),
                                    self._to_record(consent, subject, models, self.clock()),
                                    row.fingerprint)

    # -- internals ----------------------------------------------------------------------------

    def _enrolments(self, portraits: Sequence[Path]) -> dict[str, list[_Enrolment]]:
        """model id -> one face per portrait; refuses portraits without exactly one usable face
        and portraits that do not all show the same person."""
        if not portraits:
            raise InputError("portrait", "at least one portrait is needed")
        loaded = [load_portrait(Path(p), "portrait", max_pixels=self.policy.max_image_pixels)
                  for p in portraits]
        enrolments: dict[str, list[_Enrolment]] = {}
        for backend in self.backends.available():
            items = [_Enrolment(p, self._single_face(backend, p)) for p in loaded]
            threshold = self.policy.threshold(backend.model_id)
            for item in items[1:]:
                similarity = float(items[0].face.embedding @ item.face.embedding)
                if similarity < threshold:
                    raise InputError("portrait", f"{item.portrait.path.name} and "
                                                 f"{items[0].portrait.path.name} do not show the "
                                                 f"same person (similarity {similarity:.3f}, "
                                                 f"{backend.model_id} needs {threshold:.3f})")
            enrolments[backend.model_id] = items
        return enrolments

    def _single_face(self, backend: FaceBackend, portrait: Portrait) -> DetectedFace:
        faces = backend.faces(portrait, self.min_face_px)
        usable = [f for f in faces if f.short_side >= self.min_face_px]
        if len(usable) == 1:
            return usable[0]
        name = portrait.path.name
        if not faces:
            problem = f"no face found in {name}"
        elif not usable:
            largest = max(faces, key=lambda f: f.area)
            problem = (f"the face in {name} is {largest.box[2]}x{largest.box[3]} px; "
                       f"at least {self.min_face_px} px is needed")
        else:
            problem = (f"{len(usable)} faces found in {name} ({backend.name}); a reference "
                       "portrait shows exactly one person")
        raise InputError("portrait", problem,
                         hint="use a well-lit, frontal portrait of the person alone")

    def _subject_for(self, session: Session, head: RegistryHead, name: str | None,
                     subject_id: str | None,
                     enrolments: dict[str, list[_Enrolment]],
                     now: datetime) -> tuple[Subject, bool]:
        """The existing subject named by `subject_id` (the face must match it), or a new one
        (the face must match nobody enrolled)."""
        matrices = {m: self.references.matrix(session, m, head.references_version)
                    for m in enrolments}
        if subject_id is not None:
            subject = session.get(Subject, subject_id)
            if subject is None:
                raise NotFound("subject_id", f"no subject with id {subject_id!r}",
                               hint="`consent list` shows each consent's subject")
            if name is not None and subject.name != name:
                raise InputError("name", f"subject {subject.id} is {subject.name!r}, "
                                         f"not {name!r}")
            for model_id, items in enrolments.items():
                threshold = self.policy.threshold(model_id)
                for item in items:
                    similarity = matrices[model_id].best_of_subject(item.face.embedding,
                                                                    subject.id)
                    if similarity is not None and similarity < threshold:
                        raise InputError(
                            "portrait", f"{item.portrait.path.name} does not show {subject.name}"
                                        f" (similarity {similarity:.3f} to their references, "
                                        f"{model_id} needs {threshold:.3f})")
            return subject, False
        for model_id, items in enrolments.items():
            threshold = self.policy.threshold(model_id)
            for item in items:
                match = matrices[model_id].best(item.face.embedding)
                if match is not None and match.similarity >= threshold:
                    known = session.get(Subject, match.subject_id)
                    known_name = known.name if known else "?"
                    raise InputError(
                        "portrait", f"{item.portrait.path.name} shows {known_name} (subject "
                                    f"{match.subject_id}, similarity {match.similarity:.3f}), "
                                    "who is enrolled already",
                        hint=f"renew or extend their consent for that subject instead of "
                             f"enrolling the person twice: `consent add --subject "
                             f"{match.subject_id}` (API: subject_id)")
        subject = Subject(id=new_id("sub"), name=name, created_at=now)
        session.add(subject)
        session.flush()  # no ORM relationships: insert it before rows that refer to it
        return subject, True

    def _consent(self, session: Session, consent_id: str,
                 field: str = "id") -> tuple[Consent, Subject]:
        row = session.execute(select(Consent, Subject).join(Subject)
                              .where(Consent.id == (consent_id or "").strip())).first()
        if row is None:
            raise NotFound(field, f"no consent with id {consent_id!r}",
                             hint="`consent list` shows the ids")
        return row[0], row[1]

    def _reference_models(self, session: Session,
                          subject_id: str | None = None) -> dict[str, tuple[str, ...]]:
        query = select(FaceReference.subject_id, FaceReference.model_id).distinct()
        if subject_id is not None:
            query = query.where(FaceReference.subject_id == subject_id)
        models: dict[str, list[str]] = {}
        for sid, model_id in session.execute(query):
            models.setdefault(sid, []).append(model_id)
        return {sid: tuple(sorted(m)) for sid, m in models.items()}

    def _record(self, session: Session, consent: Consent, subject: Subject,
                now: datetime) -> ConsentRecord:
        session.flush()
        models = self._reference_models(session, subject.id)
        return self._to_record(consent, subject, models.get(subject.id, ()), now)

    def _require_in_force(self, session: Session, consent: Consent, subject: Subject,
                          now: datetime) -> None:
        status = self._status(consent, now)
        if status != "active":
            raise ConsentRefused(f"consent {consent.id} is {status} now: it changed while the "
                                 "video was being made, so nothing was published",
                                 hint="generate again only under a consent in force")
        problem = self.claim_problem(session, consent, subject)
        if problem:
            raise ConsentRefused(f"consent {consent.id} cannot be relied on: {problem}; nothing "
                                 "was published", hint="an admin runs `sonic-ext consent "
                                 "audit-verify`")

    @staticmethod
    def _status(consent: Consent, now: datetime) -> str:
        return consent_status(consent.revoked_at, consent.valid_from, consent.valid_until, now,
                              superseded=consent.superseded_by is not None)

    def _to_record(self, consent: Consent, subject: Subject, models: tuple[str, ...],
                   now: datetime) -> ConsentRecord:
        return ConsentRecord(
            id=consent.id, subject_id=subject.id, subject_name=subject.name,
            purposes=tuple(consent.purposes), valid_from=consent.valid_from,
            valid_until=consent.valid_until, recorded_by=consent.recorded_by,
            recorded_at=consent.recorded_at,
            evidence_path=self.evidence_dir / consent.evidence_file,
            evidence_sha256=consent.evidence_sha256, revoked_at=consent.revoked_at,
            revoked_by=consent.revoked_by, revoke_reason=consent.revoke_reason,
            status=self._status(consent, now), reference_models=models,
            grantees=tuple(consent.grantees or ()),
            evidence_media_type=consent.evidence_media_type, supersedes=consent.supersedes,
            superseded_by=consent.superseded_by)


def open_consent_key(settings: Settings, database: RegistryDatabase) -> ConsentKey:
    """SONIC_CONSENT_KEY's file, else <home>/keys/consent-key.pem, made there for a registry
    nothing has signed yet. A signed registry whose key is gone is an error, never a new key:
    everything signed before would then read as tampered."""
    shared = settings.consent_key_file
    path = shared or settings.keys_dir / KEY_FILE
    key = load_consent_key(path)
    if key is not None:
        return key
    if shared is not None:
        raise InputError(ENV_KEY_FILE, f"{path} does not exist",
                         hint="copy the deployment's consent key there")
    with database.read() as session:
        signed = session.scalar(select(AuditCheckpoint.size).limit(1)) is not None
    if signed:
        raise InputError("consent key", f"this registry is signed, but its consent key {path} "
                                        "is missing",
                         hint=f"restore the key from the installation's backup (or name the "
                              f"deployment's key file in {ENV_KEY_FILE})")
    try:
        return create_consent_key(path)
    except FileExistsError:  # another process opening the new registry made it first
        made = load_consent_key(path)
        if made is None:
            raise
        return made


@dataclass
class _LogRecords:
    """What the audit log says the registry holds (for `adopt_unsigned`)."""

    subjects: set[str]
    consents: dict[str, dict[str, Any]]  # consent id -> its terms as the log recorded them
    references: set[tuple[str, str, str]]  # (consent id, model id, portrait sha256)
    broken: str | None = None

    def matches(self, consent: Consent) -> bool:
        """Whether the row holds exactly the terms, revocation and supersession logged."""
        logged = self.consents.get(consent.id)
        if logged is None:
            return False
        stored = {**_consent_terms(consent), "revoked_at": iso(consent.revoked_at),
                  "superseded_by": consent.superseded_by}
        return stored == logged


def _recorded_by_log(session: Session) -> _LogRecords:
    found = _LogRecords(set(), {}, set())
    expected_seq, prev_hash = 1, GENESIS_HASH
    for row in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        found.broken = link_problem(row, expected_seq, prev_hash)
        if found.broken:
            return found
        expected_seq, prev_hash = row.seq + 1, row.hash
        payload = to_entry(row).payload
        consent_id = str(payload.get("consent_id"))
        if row.action in ("consent.add", "consent.amend"):
            found.subjects.add(str(payload["subject_id"]))
            found.consents[consent_id] = {
                **{name: payload.get(name) for name in _TERMS}, "revoked_at": None,
                "superseded_by": None}
            found.references.update((consent_id, str(r["model_id"]), str(r["source_sha256"]))
                                    for r in payload.get("references", []))
            if payload.get("supersedes") in found.consents:
                found.consents[str(payload["supersedes"])]["superseded_by"] = consent_id
        elif row.action == "consent.revoke" and consent_id in found.consents:
            found.consents[consent_id]["revoked_at"] = payload.get("revoked_at")
    return found


_TERMS = ("subject_id", "purposes", "grantees", "valid_from", "valid_until", "evidence_sha256")


def _consent_terms(consent: Consent) -> dict[str, Any]:
    """The `_TERMS` of a row, as `_consent_payload` logs them."""
    return {"subject_id": consent.subject_id, "purposes": list(consent.purposes),
            "grantees": list(consent.grantees or ()), "valid_from": iso(consent.valid_from),
            "valid_until": iso(consent.valid_until), "evidence_sha256": consent.evidence_sha256}


def _references(consent: Consent,
                enrolments: dict[str, list[_Enrolment]]) -> list[FaceReference]:
    return [FaceReference(subject_id=consent.subject_id, consent_id=consent.id,
                          backend=item.face.backend, model_id=model_id,
                          embedding=item.face.embedding.astype("<f4").tobytes(),
                          source_sha256=item.portrait.sha256, created_at=consent.recorded_at)
            for model_id, items in sorted(enrolments.items()) for item in items]


def _consent_payload(consent: Consent, subject: Subject) -> dict[str, Any]:
    return {"consent_id": consent.id, "subject_id": subject.id, "subject_name": subject.name,
            "purposes": list(consent.purposes), "grantees": list(consent.grantees),
            "valid_from": iso(consent.valid_from), "valid_until": iso(consent.valid_until),
            "evidence_sha256": consent.evidence_sha256, "evidence_file": consent.evidence_file,
            "evidence_media_type": consent.evidence_media_type}


def _added_payload(consent: Consent, subject: Subject, is_new: bool,
                   enrolments: dict[str, list[_Enrolment]]) -> dict[str, Any]:
    return {**_consent_payload(consent, subject), "new_subject": is_new,
            "references": [{"model_id": model_id, "source_sha256": item.portrait.sha256}
                           for model_id, items in sorted(enrolments.items())
                           for item in items]}


def _widening(old: Consent, purposes: list[str], until: datetime | None,
              grantees: list[str]) -> str:
    """What an amendment adds to what the person agreed to ('' when it only narrows)."""
    added = []
    if set(purposes) - set(old.purposes):
        added.append("purposes " + ", ".join(sorted(set(purposes) - set(old.purposes))))
    if old.valid_until is not None and (until is None or until > old.valid_until):
        added.append("a later end")
    if "any" not in (old.grantees or ()) and set(grantees) - set(old.grantees or ()):
        added.append("grantees " + ", ".join(sorted(set(grantees) - set(old.grantees or ()))))
    return "; ".join(added)


def _generation_record(row: Generation) -> GenerationRecord:
    return GenerationRecord(id=row.id, consent_id=row.consent_id, status=row.status,
                            output_sha256=row.output_sha256, watermark_id=row.watermark_id,
                            manifest=dict(row.manifest), parameters=dict(row.parameters),
                            created_at=row.created_at)


def _json_field(value: Mapping[str, Any] | None, field: str) -> str:
    try:
        return canonical_json(dict(value or {}))
    except (TypeError, ValueError) as exc:
        raise InputError(field, f"must be JSON-serialisable: {exc}") from None


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_fingerprint(blob: bytes) -> None:
    from ..provenance.fingerprint import (
        Fingerprint,  # numpy and OpenCV: only when recording
    )

    try:
        Fingerprint.from_bytes(blob)
    except (TypeError, ValueError) as exc:
        raise InputError("fingerprint", f"not a fingerprint of this version: {exc}") from None


def _check_sha256(value: str, field: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InputError(field, f"{value!r} is not a lowercase hex sha256")
