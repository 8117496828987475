"""The attacks on the 0.1.0 gate (findings F1, F4, F9 and the 1:N identification), each as a test.

Every one of these passed the old gate (small or turned faces beside a consented one, any
requester using any consent, a face identified as the nearest of all enrolled people, a
revocation of the second person during a job) and is refused or handled now.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from sonic_ext.consent import (
    RULE_CLOSER_TO_ANOTHER,
    RULE_CONSENT_SUPERSEDED,
    RULE_FACE_UNVERIFIABLE,
    RULE_NOT_GRANTED,
    RULE_UNKNOWN_FACE,
    ConsentGate,
    GateRefused,
)
from sonic_ext.consent.registry import KEEP
from sonic_ext.contracts import GenerationParams
from sonic_ext.errors import Conflict, ConsentRefused, InputError
from sonic_ext.framing import conditioning
from sonic_ext.policy import load_policy

from .conftest import FACES, enrol

OBAMA_FACE = (144, 296, 343, 343)  # dlib's box in obama2.jpg
BIDEN_FACE = (410, 220, 343, 343)  # and in biden.jpg


def _head(name: str, face: tuple[int, int, int, int], face_px: int) -> Image.Image:
    """A head-and-shoulders cut of a fixture portrait, scaled so its face is `face_px`."""
    x, y, w, _ = face
    with Image.open(FACES / name) as img:
        cut = img.convert("RGB").crop((x - w // 5, y - w // 4, x + w + w // 5, y + w + w // 3))
    scale = face_px / w
    return cut.resize((max(1, round(cut.width * scale)), max(1, round(cut.height * scale))))


def composite(path: Path, biden_px: int, turn: int = 0, left: int = 185) -> Path:
    """Obama with a 166 px face, and Biden beside his head at `biden_px`, turned by `turn`
    degrees, from x = `left` on (Obama's face spans x 42-180; Sonic's crop around it reaches
    x 249): the pictures of finding F1."""
    obama = _head("obama2.jpg", OBAMA_FACE, 166)
    biden = _head("biden.jpg", BIDEN_FACE, biden_px)
    if turn:
        biden = biden.rotate(turn, expand=True)
    canvas = Image.new("RGB", (max(obama.width, left + biden.width),
                               max(obama.height, biden.height)), (190, 190, 190))
    canvas.paste(obama, (0, 0))
    canvas.paste(biden, (left, 0))
    canvas.save(path)
    return path


@pytest.fixture
def obama(registry, evidence):
    return enrol(registry, "Barack Obama", "obama.jpg", evidence)


@pytest.mark.parametrize("biden_px", [30, 45, 56])
def test_a_small_unconsented_face_beside_the_consented_one_is_unverifiable(
        registry, gate, obama, tmp_path, biden_px):
    image = composite(tmp_path / f"pair{biden_px}.png", biden_px)
    with pytest.raises(GateRefused) as info:
        gate.check(image, "education", "api:alice", [obama.id])
    refused = info.value
    assert refused.rule == RULE_FACE_UNVERIFIABLE
    assert "too small to verify" in refused.message and "px in the video" in refused.message
    assert "crop away" in refused.hint
    small = [f for f in refused.decision.faces if f.rule == RULE_FACE_UNVERIFIABLE]
    assert len(small) == 1 and small[0].in_video
    assert small[0].video_px >= registry.min_visible_px  # Sonic's crop enlarges it


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_unconsented_face_is_found_and_refused(registry, gate, obama, tmp_path, turn):
    image = composite(tmp_path / f"turned{turn}.png", 120, turn, left=150)
    with pytest.raises(GateRefused) as info:
        gate.check(image, "education", "api:alice", [obama.id])
    assert info.value.rule == RULE_UNKNOWN_FACE
    turned = [f for f in info.value.decision.faces if f.rule == RULE_UNKNOWN_FACE]
    assert turned and turned[0].orientation != "upright"


def test_a_turned_portrait_of_the_consented_person_passes(registry, gate, obama, tmp_path):
    with Image.open(FACES / "obama2.jpg") as img:
        img.rotate(90, expand=True).save(tmp_path / "sideways.png")
    decision = gate.check(tmp_path / "sideways.png", "education", "api:alice", [obama.id])
    assert decision.passed and decision.faces[0].orientation == "turned 270"


def test_the_gate_sees_the_pixels_the_pipeline_is_conditioned_on(registry, gate, obama,
                                                                 tmp_path):
    """Biden at 56 px is 99 px in the pipeline's input: the gate measures him there."""
    image = composite(tmp_path / "pair56.png", 56)
    with pytest.raises(GateRefused) as info:
        gate.check(image, "education", "api:alice", [obama.id])
    decision = info.value.decision
    seen = conditioning(Image.open(image).convert("RGB"), decision.faces[0].box
                        if decision.faces[0].subject_id else decision.faces[1].box,
                        GenerationParams().framing())
    assert seen.rgb.shape[:2] == (512, 512)
    small = next(f for f in decision.faces if f.rule == RULE_FACE_UNVERIFIABLE)
    assert small.video_px > 56
    assert decision.framing == {"crop": True, "expand_ratio": 0.5, "min_resolution": 512}


def test_someone_elses_portrait_cannot_claim_a_consent(registry, gate, obama):
    """1:1: Biden's face against Obama's references only, whoever else is enrolled."""
    enrol(registry, "Joe Biden", "biden.jpg", Path(obama.evidence_path))
    with pytest.raises(GateRefused) as info:
        gate.check(FACES / "biden.jpg", "education", "api:alice", [obama.id])
    face = info.value.decision.faces[0]
    assert info.value.rule == RULE_UNKNOWN_FACE and face.subject_id is None
    assert face.similarity < info.value.decision.threshold
    assert face.best_other_similarity > 0.99  # Biden's own references: recorded, not used


def test_the_claimed_subject_must_lead_every_other_subject(open_registry, evidence, tmp_path,
                                                           policy_file):
    """With a threshold loose enough that Biden 'matches' Obama, Biden's own enrolment still
    beats the claim: the margin rule refuses, where 1:N nearest-match would have named Biden
    and 1:1 alone would have passed."""
    strict = open_registry()
    obama = enrol(strict, "Barack Obama", "obama.jpg", evidence)
    enrol(strict, "Joe Biden", "biden.jpg", evidence)
    loose = tmp_path / "loose.toml"
    loose.write_text(policy_file.read_text().replace("0.93", "0.70"))
    registry = open_registry(policy=load_policy(loose))  # the same database
    with pytest.raises(GateRefused) as info:
        ConsentGate(registry).check(FACES / "biden.jpg", "education", "api:alice", [obama.id])
    assert info.value.rule == RULE_CLOSER_TO_ANOTHER
    face = info.value.decision.faces[0]
    assert face.similarity >= 0.70 and face.best_other_similarity > face.similarity


def test_only_grantees_may_use_a_consent(registry, gate, evidence):
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence, grantees=("alice",))
    for actor in ("api:alice", "ui:alice", "cli:alice"):
        assert gate.check(FACES / "obama2.jpg", "education", actor, [consent.id]).passed
    for actor in ("api:bob", "ui", "local user"):
        with pytest.raises(GateRefused) as info:
            gate.check(FACES / "obama2.jpg", "education", actor, [consent.id])
        assert info.value.rule == RULE_NOT_GRANTED and "consent amend" in info.value.hint
    api_only = enrol(registry, "Barack Obama", "obama.jpg", evidence, grantees=("api:carol",),
                     subject_id=consent.subject_id)
    assert gate.check(FACES / "obama2.jpg", "education", "api:carol", [api_only.id]).passed
    with pytest.raises(GateRefused):
        gate.check(FACES / "obama2.jpg", "education", "ui:carol", [api_only.id])


def test_a_consent_needs_grantees_and_any_is_explicit(registry, evidence):
    with pytest.raises(InputError, match="grantees: name who may use this consent") as info:
        enrol(registry, "Barack Obama", "obama.jpg", evidence, grantees=())
    assert "--grantee any" in info.value.hint
    with pytest.raises(InputError, match="is not a grantee"):
        enrol(registry, "Barack Obama", "obama.jpg", evidence, grantees=("bob smith",))


def test_revoking_either_persons_consent_stops_the_publish(registry, gate, evidence,
                                                           pair_photo):
    """F4: the recorder checks every consent the video relies on, not just the animated one."""
    for revoked_index in (0, 1):
        claims = [enrol(registry, "Barack Obama", "obama.jpg", evidence,
                        subject_id=_subject(registry, "Barack Obama")).id,
                  enrol(registry, "Joe Biden", "biden.jpg", evidence,
                        subject_id=_subject(registry, "Joe Biden")).id]
        decision = gate.check(pair_photo, "education", "api:alice", claims,
                              GenerationParams(crop=False).framing())
        assert set(decision.consent_ids) == set(claims)
        registry.revoke_consent(claims[revoked_index], "withdrawn during the job", "operator")
        with pytest.raises(ConsentRefused, match="nothing was published"):
            registry.record_generation(
                consent_id=decision.consent_id, status="published", actor="api:alice",
                output_sha256="0" * 64, watermark_id=f"{revoked_index:012x}",
                also_relies_on=decision.consent_ids)
    assert registry.find_generation(watermark_id="000000000000") is None


def _subject(registry, name: str) -> str | None:
    return next((r.subject_id for r in registry.list_consents() if r.subject_name == name), None)


def test_renewal_after_revocation(registry, gate, obama, evidence):
    registry.revoke_consent(obama.id, "contract ended", "operator")
    with pytest.raises(InputError, match="enrolled already") as info:
        enrol(registry, "Barack Obama", "obama.jpg", evidence)
    assert f"--subject {obama.subject_id}" in info.value.hint
    renewed = registry.add_consent(None, [FACES / "obama2.jpg"], evidence, ["education"], None,
                                   "operator", grantees=["any"], subject_id=obama.subject_id)
    assert renewed.subject_name == "Barack Obama" and renewed.subject_id == obama.subject_id
    assert gate.check(FACES / "obama2.jpg", "education", "api:x", [renewed.id]).passed


def test_amendments_are_new_audited_consents_and_the_gate_uses_the_one_in_force(
        registry, gate, evidence, clock):
    first = enrol(registry, "Barack Obama", "obama.jpg", evidence, purposes=("education", "news"),
                  expires=clock.now + timedelta(days=300))
    # narrowing: no new evidence needed
    narrowed = registry.amend_consent(first.id, "operator", purposes=["education"],
                                      expires=clock.now + timedelta(days=30))
    assert narrowed.supersedes == first.id and narrowed.evidence_sha256 == first.evidence_sha256
    old = {r.id: r for r in registry.list_consents()}[first.id]
    assert old.status == "superseded" and old.superseded_by == narrowed.id
    with pytest.raises(GateRefused) as info:
        gate.check(FACES / "obama2.jpg", "education", "api:x", [first.id])
    assert info.value.rule == RULE_CONSENT_SUPERSEDED and narrowed.id in info.value.hint
    assert gate.check(FACES / "obama2.jpg", "education", "api:x", [narrowed.id]).passed
    with pytest.raises(GateRefused):
        gate.check(FACES / "obama2.jpg", "news", "api:x", [narrowed.id])
    # widening needs new evidence
    with pytest.raises(InputError, match="widens the consent"):
        registry.amend_consent(narrowed.id, "operator", purposes=["education", "marketing"])
    with pytest.raises(InputError, match="widens the consent"):
        registry.amend_consent(narrowed.id, "operator", expires=None)
    with pytest.raises(InputError, match="changes nothing"):
        registry.amend_consent(narrowed.id, "operator", expires=KEEP)
    widened = registry.amend_consent(narrowed.id, "operator",
                                     purposes=["education", "marketing"], evidence=evidence)
    assert widened.valid_until == narrowed.valid_until
    assert gate.check(FACES / "obama2.jpg", "marketing", "api:x", [widened.id]).passed
    with pytest.raises(Conflict):
        registry.amend_consent(first.id, "operator", purposes=["education"])
    history = registry.show_consent(widened.id).history
    assert [e.action for e in history].count("consent.amend") >= 1
    actions = [e.action for e in registry.show_consent(narrowed.id).history]
    assert actions[0] == "consent.add" and "consent.amend" in actions
