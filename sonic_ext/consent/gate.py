"""The consent gate: nothing is generated of a person who did not consent.

A generation claims the consents it relies on, one per person it shows. The gate then:

1. checks each claim: the consent is in force now (unrevoked, unexpired, not replaced by an
   amendment), covers the purpose and names the requester among its grantees;
2. finds every face in the portrait, in every orientation, and picks the face to animate: the
   largest one verified as a claimed subject;
3. builds the very pixels the pipeline will condition on (Sonic's crop around that face,
   resized to the generation size) and finds every face there too, down to the policy's
   `min_visible_px`, the size below which a face no longer shows as a face in the video;
4. verifies each face that will be in the video 1:1 against the claimed subjects' references
   (cosine similarity at or above the model's threshold), and requires that no other enrolled
   subject matches it better, by the policy's margin. A face in the video that is too small in
   the portrait to be verified is a refusal (`face-unverifiable`), never a pass; faces outside
   the animated region are reported and do not block.

Each decision, pass or refusal, is written to the audit log in the transaction that read the
consents it relied on; a revocation is therefore either before a decision or after it, never
half-seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from ..contracts import GenerationParams
from ..errors import ConsentRefused, InputError
from ..framing import Conditioning, Framing, conditioning
from ..identity import Box, DetectedFace, FaceBackend, load_portrait
from ..identity.faces import SAME_FACE_IOU, overlap
from .fields import check_purpose, check_text, outside_policy
from .grantees import is_granted
from .models import Consent, Subject
from .records import consent_status, iso
from .references import ReferenceMatrix
from .registry import ConsentRegistry

RULE_NO_FACE = "no-face"
RULE_FACE_TOO_SMALL = "face-too-small"
RULE_FACE_UNVERIFIABLE = "face-unverifiable"
RULE_MULTIPLE_FACES = "multiple-faces"
RULE_PURPOSE_NOT_ALLOWED = "purpose-not-allowed"
RULE_UNKNOWN_FACE = "unknown-face"
RULE_CLOSER_TO_ANOTHER = "closer-to-another-subject"
RULE_NOT_GRANTED = "not-granted"
RULE_CONSENT_REVOKED = "consent-revoked"
RULE_CONSENT_EXPIRED = "consent-expired"
RULE_CONSENT_NOT_YET_VALID = "consent-not-yet-valid"
RULE_CONSENT_SUPERSEDED = "consent-superseded"
RULE_PURPOSE_NOT_COVERED = "purpose-not-covered"
RULE_REGISTRY_ALTERED = "registry-altered"
_ALTERED_HINT = ("an admin runs `sonic-ext consent audit-verify`: the registry no longer holds "
                 "what its consent key signed")

_RULE_OF_STATUS = {"revoked": RULE_CONSENT_REVOKED, "expired": RULE_CONSENT_EXPIRED,
                   "not-yet-valid": RULE_CONSENT_NOT_YET_VALID,
                   "superseded": RULE_CONSENT_SUPERSEDED}
MAX_CLAIMS = 16


@dataclass(frozen=True)
class FaceCheck:
    """The verdict on one face; `rule` is None when it passed or does not count.

    `box` is in portrait pixels; `video_px` is the face's short side in the pixels the model
    conditions on (None for a face outside the animated region).
    """

    box: Box
    detection_score: float
    orientation: str
    in_video: bool
    video_px: int | None
    similarity: float | None
    best_other_similarity: float | None
    subject_id: str | None
    subject_name: str | None
    consent_id: str | None
    rule: str | None
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "detection_score": round(self.detection_score, 4),
                "orientation": self.orientation, "in_video": self.in_video,
                "video_px": self.video_px, "similarity": _rounded(self.similarity),
                "best_other_similarity": _rounded(self.best_other_similarity),
                "subject_id": self.subject_id, "subject_name": self.subject_name,
                "consent_id": self.consent_id, "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class GateDecision:
    """What the manifest records. The subject fields describe the face to animate (the largest
    verified face) and are None when the gate refused; `faces` has the verdict on each face, and
    `consent_ids` every consent the video relies on (a revocation of any stops its publish)."""

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
    margin: float
    min_face_px: int
    min_visible_px: int
    image_sha256: str
    claims: tuple[str, ...]
    framing: dict[str, Any]
    faces_found: int
    faces: tuple[FaceCheck, ...]
    subject_id: str | None = None
    subject_name: str | None = None
    consent_id: str | None = None
    consent_ids: tuple[str, ...] = ()
    similarity: float | None = None
    face_box: Box | None = None
    audit_seq: int | None = None
    audit_hash: str | None = None
    # the consent key's signed checkpoint of the log at this decision: an anchor outside the
    # database, in every manifest (`consent audit-verify --anchor`)
    audit_checkpoint: str | None = None

    @property
    def faces_checked(self) -> int:
        return sum(1 for f in self.faces if f.in_video)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "rule": self.rule, "message": self.message,
            "hint": self.hint, "purpose": self.purpose, "actor": self.actor,
            "decided_at": iso(self.decided_at), "policy_version": self.policy_version,
            "backend": self.backend, "model_id": self.model_id, "threshold": self.threshold,
            "margin": self.margin, "min_face_px": self.min_face_px,
            "min_visible_px": self.min_visible_px, "image_sha256": self.image_sha256,
            "claims": list(self.claims), "framing": dict(self.framing),
            "faces_found": self.faces_found, "faces_checked": self.faces_checked,
            "faces": [f.to_dict() for f in self.faces], "subject_id": self.subject_id,
            "subject_name": self.subject_name, "consent_id": self.consent_id,
            "consent_ids": list(self.consent_ids), "similarity": _rounded(self.similarity),
            "face_box": list(self.face_box) if self.face_box else None,
            "audit_seq": self.audit_seq, "audit_hash": self.audit_hash,
            "audit_checkpoint": self.audit_checkpoint,
        }


class GateRefused(ConsentRefused):
    """A refusal with its decision record (already in the audit log as `audit_seq`)."""

    def __init__(self, decision: GateDecision) -> None:
        super().__init__(decision.message, hint=decision.hint)
        self.decision = decision
        self.rule = decision.rule

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "rule": self.rule, "audit_seq": self.decision.audit_seq}


@dataclass(frozen=True)
class _Claim:
    consent: Consent
    subject: Subject


@dataclass(frozen=True, eq=False)
class _Candidate:
    """A face that may be in the video: where it is in the portrait and in the model's input."""

    face: DetectedFace
    box: Box
    in_video: bool
    video_px: int | None


def check_claims(values: Sequence[str] | None, field: str = "consent_id") -> tuple[str, ...]:
    """The consent ids a generation relies on: at least one, each once, in the order given."""
    claims: list[str] = []
    for value in values or ():
        claim = (value or "").strip()
        if claim and claim not in claims:
            claims.append(check_text(claim, field, max_length=32))
    if not claims:
        raise InputError(field, "name the consent this video relies on (one per person shown)",
                         hint="API: consent_id; CLI: generate --consent ID; UI: pick it from "
                              "the consents granted to you (`sonic-ext consent list` shows ids); "
                              "if nobody has consented yet, an admin records the person's "
                              "consent first with `sonic-ext consent add`")
    if len(claims) > MAX_CLAIMS:
        raise InputError(field, f"{len(claims)} consents named; at most {MAX_CLAIMS}")
    return tuple(claims)


class ConsentGate:
    """Checks portraits against the registry with the policy's face backend."""

    def __init__(self, registry: ConsentRegistry, backend: FaceBackend | None = None) -> None:
        self.registry = registry
        self.policy = registry.policy
        self.backend = backend or registry.backends.get(
            str(self.policy.data["identity"]["backend"]))

    def check(self, image: Path, purpose: str, actor: str, claims: Sequence[str],
              framing: Framing | None = None) -> GateDecision:
        """Return the decision when every face in the video may be animated; raise GateRefused
        otherwise. `claims` are the consent ids relied on, `framing` how the pipeline will
        crop and resize (the defaults of a generation when None)."""
        # 1. Check the request; a missing threshold is a policy error, not a decision.
        purpose = check_purpose(purpose)
        actor = check_text(actor, "actor")
        claims = check_claims(claims)
        framing = framing or GenerationParams().framing()
        threshold = self.policy.threshold(self.backend.model_id)
        portrait = load_portrait(Path(image), "image",
                                 max_pixels=self.policy.max_image_pixels)
        min_face = self.registry.min_face_px
        # 2. Every face of the portrait, largest first (slow: no lock held).
        faces = sorted(self.backend.faces(portrait, min_face), key=lambda f: f.area,
                       reverse=True)
        # 3. The face to animate, and every face in the pixels the model will see (slow too).
        with self.registry.database.read() as session:
            animated = self._face_to_animate(session, faces, claims, threshold)
        seen = None
        if animated is not None:
            seen = conditioning(Image.fromarray(portrait.rgb), animated.box, framing)
        candidates = self._candidates(faces, seen)
        # 4. Decide on the registry as it is now, and record the decision, in one transaction.
        with self.registry.writing() as (session, head):
            now = self.registry.clock()
            base = GateDecision(
                passed=False, rule=None, message="", hint=None, purpose=purpose, actor=actor,
                decided_at=now, policy_version=self.policy.version, backend=self.backend.name,
                model_id=self.backend.model_id, threshold=threshold,
                margin=self.registry.identity_margin, min_face_px=min_face,
                min_visible_px=self.registry.min_visible_px, image_sha256=portrait.sha256,
                claims=claims, framing=_framing_dict(framing), faces_found=len(faces),
                faces=())
            matrix = self.registry.references.matrix(session, self.backend.model_id,
                                                     head.references_version)
            altered = self.registry.tail_problem(session, head)
            if altered:
                decision = _refused(base, RULE_REGISTRY_ALTERED, altered, _ALTERED_HINT)
            else:
                decision = self._decide(session, base, candidates, matrix,
                                        animated.box if animated else None)
            entry = self.registry.append(session, head, actor=actor, at=now,
                                         action="gate.pass" if decision.passed
                                         else "gate.refuse", payload=_audit_payload(decision))
        decision = replace(decision, audit_seq=entry.seq, audit_hash=entry.hash,
                           audit_checkpoint=entry.checkpoint)
        if not decision.passed:
            raise GateRefused(decision)
        return decision

    # -- which faces -------------------------------------------------------------------------

    def _face_to_animate(self, session: Session, faces: list[DetectedFace],
                         claims: tuple[str, ...], threshold: float) -> DetectedFace | None:
        """The largest face verified as one of the claimed subjects (ignoring, for now, the
        claims' validity and other subjects: step 4 decides on those)."""
        subject_ids = {c.subject.id for c in _claims(session, claims).values() if c}
        matrix = self.registry.references.matrix(session, self.backend.model_id,
                                                 self.registry.references_version(session))
        threshold_px = self.registry.min_face_px
        for face in faces:
            if face.short_side < threshold_px:
                continue
            best = max((matrix.best_of_subject(face.embedding, s) or -1.0
                        for s in subject_ids), default=-1.0)
            if best >= threshold:
                return face
        return None

    def _candidates(self, faces: list[DetectedFace], seen: Conditioning | None
                    ) -> list[_Candidate]:
        """Every face with whether it will be in the video.

        A face found in the model's input is in the video. It is verified with the portrait's
        own detection of it when there is one (the original pixels, as enrolment and the
        calibration saw faces), else with the input's. A portrait face counts too when the part
        of it inside the animated region is at least `min_visible_px` there: a face cut by the
        crop, or one the two detections disagree on.
        """
        if seen is None:  # nothing to animate: judge the portrait's own faces
            return [_Candidate(f, f.box, True, None) for f in faces]
        min_visible = self.registry.min_visible_px
        candidates, matched = [], set()
        for found in sorted(self.backend.faces(seen.rgb, min_visible), key=lambda f: f.area,
                            reverse=True):
            if found.short_side < min_visible:
                continue
            box = _rounded_box(seen.to_portrait(found.box))
            same = max(faces, key=lambda f: overlap(f.box, box), default=None)
            if same is not None and overlap(same.box, box) >= SAME_FACE_IOU:
                matched.add(id(same))
                candidates.append(_Candidate(same, same.box, True, found.short_side))
            else:
                candidates.append(_Candidate(found, box, True, found.short_side))
        for face in faces:
            if id(face) in matched:
                continue
            shown = seen.visible_px(face.box)
            candidates.append(_Candidate(face, face.box, shown >= min_visible,
                                         shown if shown >= min_visible else None))
        return candidates

    # -- the decision ------------------------------------------------------------------------

    def _decide(self, session: Session, base: GateDecision, candidates: list[_Candidate],
                matrix: ReferenceMatrix, animated: Box | None) -> GateDecision:
        """`animated` is the portrait box the model's input was cropped around: the decision
        hands exactly that box to the pipeline."""
        allowed = self.policy.allowed_purposes
        if outside_policy([base.purpose], allowed):
            return _refused(base, RULE_PURPOSE_NOT_ALLOWED,
                            f"purpose {base.purpose!r} is not one this installation allows",
                            f"the policy allows: {', '.join(allowed)}")
        claims = _claims(session, base.claims)
        unknown = [c for c, found in claims.items() if found is None]
        if unknown:
            raise InputError("consent_id", f"no consent with id {unknown[0]!r}",
                             hint="the consents granted to you are listed in the UI and by "
                                  "GET /consents/granted; admins: `sonic-ext consent list`")
        for claim in claims.values():
            altered = self.registry.claim_problem(session, claim.consent,  # type: ignore[union-attr]
                                                  claim.subject)  # type: ignore[union-attr]
            if altered:
                return _refused(base, RULE_REGISTRY_ALTERED, altered, _ALTERED_HINT)
        for claim in claims.values():
            refusal = _claim_refusal(claim, base)  # type: ignore[arg-type]
            if refusal is not None:
                return _refused(base, *refusal)
        in_video = [c for c in candidates if c.in_video]
        if not in_video:
            return _refused(base, RULE_NO_FACE, "no face found in the portrait",
                            f"use a portrait where the face is clearly visible and at least "
                            f"{base.min_face_px} px")
        if animated is None and all(min(c.box[2:]) < base.min_face_px for c in in_video):
            largest = max(in_video, key=lambda c: c.box[2] * c.box[3]).box
            return _refused(base, RULE_FACE_TOO_SMALL,
                            f"the largest face found is {largest[2]}x{largest[3]} px; the "
                            f"policy needs at least {base.min_face_px} px",
                            "use a closer or larger portrait")
        if self.policy.data["faces"]["multiple"] == "single-only" and len(in_video) > 1:
            return _refused(base, RULE_MULTIPLE_FACES,
                            f"{len(in_video)} faces would be in the video; this installation's "
                            "policy allows one person per portrait",
                            "crop the portrait to the one consenting person")
        verdicts = tuple(self._check_face(c, base, claims, matrix)  # type: ignore[arg-type]
                         for c in candidates)
        counted = [v for v in verdicts if v.in_video]
        failed = [v for v in counted if v.rule is not None]
        if failed:
            message = failed[0].message if len(failed) == 1 else (
                f"{len(failed)} of {len(counted)} faces in the video may not be animated: "
                + "; ".join(v.message for v in failed))
            return replace(base, rule=failed[0].rule, message=message, hint=failed[0].hint,
                           faces=verdicts)
        chosen = max(counted, key=lambda v: overlap(v.box, animated or v.box))
        used = tuple(dict.fromkeys(v.consent_id for v in counted if v.consent_id))
        return replace(base, passed=True, faces=verdicts, subject_id=chosen.subject_id,
                       subject_name=chosen.subject_name, consent_id=chosen.consent_id,
                       consent_ids=used, similarity=chosen.similarity, face_box=animated,
                       message=f"{len(counted)} face(s) in the video verified; animating "
                               f"{chosen.subject_name} (similarity {chosen.similarity:.3f}, "
                               f"consent {chosen.consent_id})")

    def _check_face(self, candidate: _Candidate, base: GateDecision,
                    claims: dict[str, _Claim], matrix: ReferenceMatrix) -> FaceCheck:
        face, box = candidate.face, candidate.box
        where = f"the face at {list(box)}"
        verdict = FaceCheck(box, face.score, face.orientation, candidate.in_video,
                            candidate.video_px, None, None, None, None, None, None, "")
        if not candidate.in_video:
            return replace(verdict, message=f"{where} is outside the animated region: it is "
                                            "not in the video and was not checked")
        if min(box[2], box[3]) < base.min_face_px:
            shown = f" ({candidate.video_px} px in the video)" if candidate.video_px else ""
            return replace(verdict, rule=RULE_FACE_UNVERIFIABLE, message=(
                f"{where} is {box[2]}x{box[3]} px in the portrait{shown}: it would be visible "
                f"in the video but is too small to verify (the policy verifies faces from "
                f"{base.min_face_px} px)"), hint=(
                "use a portrait in which every face is at least that large, or crop away the "
                "faces of everyone who is not to be animated"))
        altered = sorted(c.subject.id for c in claims.values()
                         if c.subject.id in matrix.rejected)
        if altered:
            return replace(verdict, rule=RULE_REGISTRY_ALTERED, message=(
                f"face references of subject {', '.join(altered)} are not signed by this "
                "registry's consent key: they were added or edited outside the registry"),
                hint=_ALTERED_HINT)
        scores = {cid: matrix.best_of_subject(face.embedding, c.subject.id)
                  for cid, c in claims.items()}
        known = {cid: s for cid, s in scores.items() if s is not None}
        if not known:
            return replace(verdict, rule=RULE_UNKNOWN_FACE, message=(
                f"{where}: the claimed person's face was enrolled with another face model "
                f"than this installation uses ({base.model_id})"), hint=(
                "an admin records the person's consent again (`sonic-ext consent add "
                "--subject ...`) so their face is enrolled with this model"))
        consent_id = max(known, key=lambda cid: known[cid])
        claim, similarity = claims[consent_id], known[consent_id]
        other = matrix.best_other(face.embedding, claim.subject.id)
        other_similarity = other.similarity if other else None
        verdict = replace(verdict, similarity=similarity, best_other_similarity=other_similarity)
        if similarity < base.threshold:
            named = ", ".join(sorted(c.subject.name for c in claims.values()))
            return replace(verdict, rule=RULE_UNKNOWN_FACE, message=(
                f"{where} is not {named} (similarity {similarity:.3f}, needs "
                f"{base.threshold:.3f}): nobody in this video may be animated without their own"
                " consent"), hint=(
                "claim the consent of every person shown (one per face), or crop the others "
                "out; an admin records a consent with `sonic-ext consent add`"))
        if other_similarity is not None and other_similarity > similarity - base.margin:
            return replace(verdict, rule=RULE_CLOSER_TO_ANOTHER, message=(
                f"{where} matches {claim.subject.name} ({similarity:.3f}) but another enrolled "
                f"person almost as well or better ({other_similarity:.3f}; the policy needs a "
                f"lead of {base.margin:.3f})"), hint=(
                "use a clearer, frontal portrait of the person"))
        return replace(verdict, subject_id=claim.subject.id, subject_name=claim.subject.name,
                       consent_id=consent_id, message=(
                           f"{where} is {claim.subject.name} (similarity {similarity:.3f}), "
                           f"consent {consent_id}"))


def _claims(session: Session, claims: Sequence[str]) -> dict[str, _Claim | None]:
    found: dict[str, _Claim | None] = {}
    for consent_id in claims:
        consent = session.get(Consent, consent_id)
        subject = session.get(Subject, consent.subject_id) if consent else None
        found[consent_id] = _Claim(consent, subject) if consent and subject else None
    return found


def _claim_refusal(claim: _Claim, base: GateDecision) -> tuple[str, str, str] | None:
    """(rule, message, hint) when a claimed consent cannot back this generation, else None."""
    consent, name = claim.consent, claim.subject.name
    status = consent_status(consent.revoked_at, consent.valid_from, consent.valid_until,
                            base.decided_at, superseded=consent.superseded_by is not None)
    renew = (f"an admin records a new consent from {name} if they agree again "
             f"(`sonic-ext consent add --subject {claim.subject.id}`)")
    if status == "revoked":
        return (RULE_CONSENT_REVOKED, f"consent {consent.id} ({name}) was revoked on "
                f"{iso(consent.revoked_at)} ({consent.revoke_reason})", renew)
    if status == "expired":
        return (RULE_CONSENT_EXPIRED, f"consent {consent.id} ({name}) expired on "
                f"{iso(consent.valid_until)}", renew)
    if status == "not-yet-valid":
        return (RULE_CONSENT_NOT_YET_VALID, f"consent {consent.id} ({name}) is valid only from "
                f"{iso(consent.valid_from)}", "try again once it is valid")
    if status == "superseded":
        return (RULE_CONSENT_SUPERSEDED, f"consent {consent.id} ({name}) was amended: "
                f"consent {consent.superseded_by} replaces it", f"claim consent "
                f"{consent.superseded_by} instead")
    if base.purpose not in consent.purposes:
        return (RULE_PURPOSE_NOT_COVERED, f"consent {consent.id} ({name}) covers "
                f"{', '.join(consent.purposes)}, not {base.purpose!r}",
                f"choose a covered purpose, or an admin records {name}'s consent for "
                f"{base.purpose!r}")
    if not is_granted(consent.grantees or (), base.actor):
        return (RULE_NOT_GRANTED, f"consent {consent.id} ({name}) is not granted to "
                f"{base.actor}", "an admin adds you to its grantees "
                f"(`sonic-ext consent amend {consent.id} --grantee USER`)")
    return None


def _framing_dict(framing: Framing) -> dict[str, Any]:
    return {"crop": framing.crop, "expand_ratio": framing.expand_ratio,
            "min_resolution": framing.min_resolution}


def _refused(base: GateDecision, rule: str, message: str, hint: str) -> GateDecision:
    return replace(base, rule=rule, message=message, hint=hint)


def _audit_payload(decision: GateDecision) -> dict[str, Any]:
    payload = decision.to_dict()
    del payload["audit_seq"], payload["audit_hash"], payload["audit_checkpoint"]
    return payload


def _rounded_box(box: tuple[float, float, float, float]) -> Box:
    x, y, w, h = (round(v) for v in box)
    return x, y, w, h


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
