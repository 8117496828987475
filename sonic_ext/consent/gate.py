"""The consent gate: nothing is generated of a person who did not consent.

Every face in the portrait whose short side reaches the policy's minimum must be identified as an
enrolled subject (cosine similarity at or above the policy threshold of the backend's model; the
subject with the most similar reference) who holds a consent that is valid now, unrevoked,
unexpired and names the requested purpose. A consent covers only the purposes it lists; the
registry refuses to record one that lists none. The face the pipeline animates is a verified
one: the largest.

Each decision, pass or refusal, is written to the audit log in the transaction that read the
consents it relied on; a revocation is therefore either before a decision or after it, never
half-seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ConsentRefused
from ..identity import Box, DetectedFace, FaceBackend, load_portrait
from .audit import append_event
from .fields import check_purpose, check_text
from .models import Consent, Subject
from .records import consent_status, iso
from .references import ReferenceMatrix
from .registry import ConsentRegistry

RULE_NO_FACE = "no-face"
RULE_FACE_TOO_SMALL = "face-too-small"
RULE_MULTIPLE_FACES = "multiple-faces"
RULE_PURPOSE_NOT_ALLOWED = "purpose-not-allowed"
RULE_UNKNOWN_FACE = "unknown-face"
RULE_CONSENT_REVOKED = "consent-revoked"
RULE_CONSENT_EXPIRED = "consent-expired"
RULE_CONSENT_NOT_YET_VALID = "consent-not-yet-valid"
RULE_PURPOSE_NOT_COVERED = "purpose-not-covered"

_RULE_OF_STATUS = {"revoked": RULE_CONSENT_REVOKED, "expired": RULE_CONSENT_EXPIRED,
                   "not-yet-valid": RULE_CONSENT_NOT_YET_VALID}


@dataclass(frozen=True)
class FaceCheck:
    """The verdict on one face; `rule` is None when it passed."""

    box: Box
    detection_score: float
    similarity: float | None
    subject_id: str | None
    subject_name: str | None
    consent_id: str | None
    rule: str | None
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "detection_score": round(self.detection_score, 4),
                "similarity": _rounded(self.similarity), "subject_id": self.subject_id,
                "subject_name": self.subject_name, "consent_id": self.consent_id,
                "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class GateDecision:
    """What the manifest records. The subject fields describe the face to animate (the largest
    verified face) and are None when the gate refused; `faces` has the verdict on each face."""

    passed: bool
    rule: str | None
    message: str
    hint: str | None
    purpose: str
    actor: str
    decided_at: datetime
    policy_version: str
    backend: str
    model_id: str
    threshold: float
    min_face_px: int
    image_sha256: str
    faces_found: int
    faces: tuple[FaceCheck, ...]
    subject_id: str | None = None
    subject_name: str | None = None
    consent_id: str | None = None
    similarity: float | None = None
    face_box: Box | None = None
    audit_seq: int | None = None
    audit_hash: str | None = None

    @property
    def faces_checked(self) -> int:
        return len(self.faces)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "rule": self.rule, "message": self.message,
            "hint": self.hint, "purpose": self.purpose, "actor": self.actor,
            "decided_at": iso(self.decided_at), "policy_version": self.policy_version,
            "backend": self.backend, "model_id": self.model_id, "threshold": self.threshold,
            "min_face_px": self.min_face_px, "image_sha256": self.image_sha256,
            "faces_found": self.faces_found, "faces_checked": self.faces_checked,
            "faces": [f.to_dict() for f in self.faces], "subject_id": self.subject_id,
            "subject_name": self.subject_name, "consent_id": self.consent_id,
            "similarity": _rounded(self.similarity),
            "face_box": list(self.face_box) if self.face_box else None,
            "audit_seq": self.audit_seq, "audit_hash": self.audit_hash,
        }


class GateRefused(ConsentRefused):
    """A refusal with its decision record (already in the audit log as `audit_seq`)."""

    def __init__(self, decision: GateDecision) -> None:
        super().__init__(decision.message, hint=decision.hint)
        self.decision = decision
        self.rule = decision.rule

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "rule": self.rule, "audit_seq": self.decision.audit_seq}


class ConsentGate:
    """Checks portraits against the registry with the policy's face backend."""

    def __init__(self, registry: ConsentRegistry, backend: FaceBackend | None = None) -> None:
        self.registry = registry
        self.policy = registry.policy
        self.backend = backend or registry.backends.get(
            str(self.policy.data["identity"]["backend"]))

    def check(self, image: Path, purpose: str, actor: str) -> GateDecision:
        """Return the decision when every face may be animated; raise GateRefused otherwise."""
        # 1. Check the request; a missing threshold is a policy error, not a decision.
        purpose = check_purpose(purpose)
        actor = check_text(actor, "actor")
        threshold = self.policy.threshold(self.backend.model_id)
        portrait = load_portrait(Path(image), "image")
        min_face = self.registry.min_face_px
        # 2. Find faces, largest first (slow: no lock held).
        faces = sorted(self.backend.faces(portrait, min_face), key=lambda f: f.area, reverse=True)
        # 3. Decide on the registry as it is now, and record the decision, in one transaction.
        with self.registry.database.write() as (session, head):
            now = self.registry.clock()
            base = GateDecision(
                passed=False, rule=None, message="", hint=None, purpose=purpose, actor=actor,
                decided_at=now, policy_version=self.policy.version, backend=self.backend.name,
                model_id=self.backend.model_id, threshold=threshold, min_face_px=min_face,
                image_sha256=portrait.sha256, faces_found=len(faces), faces=())
            matrix = self.registry.references.matrix(session, self.backend.model_id,
                                                     head.references_version)
            decision = self._decide(session, base, faces, matrix)
            entry = append_event(session, head, actor=actor, at=now,
                                 action="gate.pass" if decision.passed else "gate.refuse",
                                 payload=_audit_payload(decision))
        decision = replace(decision, audit_seq=entry.seq, audit_hash=entry.hash)
        if not decision.passed:
            raise GateRefused(decision)
        return decision

    def _decide(self, session: Session, base: GateDecision, faces: list[DetectedFace],
                matrix: ReferenceMatrix) -> GateDecision:
        allowed = self.policy.allowed_purposes
        if allowed and base.purpose not in allowed:
            return _refused(base, RULE_PURPOSE_NOT_ALLOWED,
                            f"purpose {base.purpose!r} is not one this installation allows",
                            f"the policy allows: {', '.join(allowed)}")
        checked = [f for f in faces if f.short_side >= base.min_face_px]
        if not faces:
            return _refused(base, RULE_NO_FACE, "no face found in the portrait",
                            f"use a portrait where the face is clearly visible, frontal and at "
                            f"least {base.min_face_px} px")
        if not checked:
            largest = faces[0].box
            return _refused(base, RULE_FACE_TOO_SMALL,
                            f"the largest face found is {largest[2]}x{largest[3]} px; the "
                            f"policy needs at least {base.min_face_px} px",
                            "use a closer or larger portrait")
        if self.policy.data["faces"]["multiple"] == "single-only" and len(checked) > 1:
            return _refused(base, RULE_MULTIPLE_FACES,
                            f"{len(checked)} faces of at least {base.min_face_px} px found; "
                            "this installation's policy allows one person per portrait",
                            "crop the portrait to the one consenting person")
        verdicts = tuple(self._check_face(session, face, base, matrix) for face in checked)
        failed = [v for v in verdicts if v.rule is not None]
        if failed:
            message = failed[0].message if len(failed) == 1 else (
                f"{len(failed)} of {len(verdicts)} faces may not be animated: "
                + "; ".join(v.message for v in failed))
            return replace(base, rule=failed[0].rule, message=message, hint=failed[0].hint,
                           faces=verdicts)
        chosen = verdicts[0]  # faces are sorted largest first
        return replace(base, passed=True, faces=verdicts, subject_id=chosen.subject_id,
                       subject_name=chosen.subject_name, consent_id=chosen.consent_id,
                       similarity=chosen.similarity, face_box=chosen.box,
                       message=f"{len(verdicts)} face(s) verified; animating {chosen.subject_name}"
                               f" (similarity {chosen.similarity:.3f}, consent "
                               f"{chosen.consent_id})")

    def _check_face(self, session: Session, face: DetectedFace, base: GateDecision,
                    matrix: ReferenceMatrix) -> FaceCheck:
        where = f"the face at {list(face.box)}"
        match = matrix.best(face.embedding)
        if match is None:
            return FaceCheck(face.box, face.score, None, None, None, None, RULE_UNKNOWN_FACE,
                             f"{where}: nobody is enrolled for the face model {base.model_id}",
                             "record the person's consent (consent add) with this face model "
                             "installed")
        if match.similarity < base.threshold:
            return FaceCheck(face.box, face.score, match.similarity, None, None, None,
                             RULE_UNKNOWN_FACE,
                             f"{where} matches nobody with recorded consent (best similarity "
                             f"{match.similarity:.3f}, needs {base.threshold:.3f})",
                             "record this person's consent first (consent add), or use a "
                             "portrait of a person who consented")
        subject = session.get(Subject, match.subject_id)
        name = subject.name if subject else match.subject_id
        consents = session.scalars(select(Consent).where(Consent.subject_id == match.subject_id)
                                   .order_by(Consent.recorded_at.desc())).all()
        consent, rule, message, hint = _consent_for(consents, base.purpose, base.decided_at,
                                                    name, match.subject_id)
        return FaceCheck(face.box, face.score, match.similarity, match.subject_id, name,
                         consent.id if consent else None, rule,
                         f"{where} is {name}: {message}", hint)


def _consent_for(consents: list[Consent], purpose: str, now: datetime, name: str,
                 subject_id: str) -> tuple[Consent | None, str | None, str, str | None]:
    """(consent, failing rule, message, hint) for one identified subject, newest consent first.

    A consent that names the purpose and is active passes. Otherwise the most telling reason:
    the newest consent for this purpose (revoked, expired, not yet valid); else, when the person
    has no active consent at all, why the newest one lapsed; else which purposes they cover.
    """
    def status(c: Consent) -> str:
        return consent_status(c.revoked_at, c.valid_from, c.valid_until, now)

    covering = [c for c in consents if purpose in c.purposes]
    for consent in covering:
        if status(consent) == "active":
            return consent, None, f"consent {consent.id} covers {purpose!r}", None
    renew = f"record a new consent from {name} (subject {subject_id}) if they agree again"
    active = [c for c in consents if status(c) == "active"]
    if covering:
        lapsed: Consent | None = covering[0]
    elif not active and consents:
        lapsed = consents[0]
    else:
        lapsed = None
    if lapsed is not None:
        rule = _RULE_OF_STATUS[status(lapsed)]
        if rule == RULE_CONSENT_REVOKED:
            return lapsed, rule, (f"consent {lapsed.id} was revoked on {iso(lapsed.revoked_at)}"
                                  f" ({lapsed.revoke_reason})"), renew
        if rule == RULE_CONSENT_EXPIRED:
            return lapsed, rule, f"consent {lapsed.id} expired on {iso(lapsed.valid_until)}", renew
        return lapsed, rule, (f"consent {lapsed.id} is valid only from "
                              f"{iso(lapsed.valid_from)}"), "try again once it is valid"
    covered = sorted({p for c in active for p in c.purposes})
    return None, RULE_PURPOSE_NOT_COVERED, (
        f"their consent covers {', '.join(covered) or 'no purpose'}, not {purpose!r}"), (
        f"choose a covered purpose, or record {name}'s consent for {purpose!r}")


def _refused(base: GateDecision, rule: str, message: str, hint: str) -> GateDecision:
    return replace(base, rule=rule, message=message, hint=hint)


def _audit_payload(decision: GateDecision) -> dict[str, Any]:
    payload = decision.to_dict()
    del payload["audit_seq"], payload["audit_hash"]
    return payload


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
