"""The Consent section of a verify report, from the file alone: who issued the consent the
generation relied on, what it covered, whether the generation fell inside it, and whether it is
revoked, per a signed status list (no registry needed).

    in-force            a trusted credential for the decision's consent, covering its purpose and
                        date, not revoked per the status list given
    revoked             as above, but the status list has its bit set
    status-unknown      as above, without a usable status list (none given, or not this issuer's)
    outside-consent     the generation's purpose or date is not covered by the credential
    credential-mismatch the credential is for another consent than the decision names
    identity-invalid    the registry's CAWG identity assertion is not this file's (copied from
                        another), fails its checks, or is signed by another key than the
                        credential's issuer
    identity-absent     a genuine credential, but no identity assertion binds it to this file
                        (copied from another output, or signed through a callback signer)
    issuer-untrusted    the credential verifies, but its issuer is not a consent trust anchor
    credential-invalid  the credential's signature does not verify (edited) or it is malformed
    absent              the manifest carries no consent credential (made before 0.2)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509

from ..provenance.identity_assertion import IdentityReading, judge_identities
from .credentials import CREDENTIAL_TYPE, STATUS_LIST_TYPE, check_jwt, revoked_bit


def check_consent(decision: Mapping[str, Any], carried: Sequence[str],
                  anchors: Sequence[x509.Certificate], status_list: str | None,
                  now: dt.datetime, identities: Sequence[IdentityReading] = ()
                  ) -> dict[str, Any]:
    """The Consent section for a manifest's gate decision, the credentials it carries and the
    registry's identity assertions."""
    if not carried:
        return _section("absent", "the manifest carries no consent credential (outputs made "
                                  "before consent credentials existed)")
    consent_id = decision.get("consent_id")
    checked = [check_jwt(str(token), anchors, now, CREDENTIAL_TYPE) for token in carried]
    ours = [c for c in checked if c.claims and _subject(c.claims).get("consentId") == consent_id]
    if not ours:
        broken = [c for c in checked if c.claims is None]
        if broken:
            return _section("credential-invalid", f"the consent credential {broken[0].problem}")
        return _section("credential-mismatch", f"the manifest's credentials are for other "
                        f"consents than the one its gate decision names ({consent_id}): they "
                        "were taken from another output")
    found = ours[0]
    claims = found.claims or {}
    subject = _subject(claims)
    facts = {"consent_id": consent_id, "issuer": found.issuer_name,
             "issuer_id": (claims.get("issuer") or {}).get("id"),
             "subject": subject.get("id"), "subject_name": subject.get("name"),
             "purposes": subject.get("purposes"), "valid_from": claims.get("validFrom"),
             "valid_until": claims.get("validUntil"),
             "evidence_sha256": subject.get("evidenceSha256"),
             "face_models": subject.get("faceModels")}
    if not found.trusted:
        return _section("issuer-untrusted", f"the consent credential {found.problem}", facts)
    facts["identity"], problem = judge_identities(identities, found.issuer_key)
    if problem is not None:
        verdict = "identity-absent" if not identities else "identity-invalid"
        return _section(verdict, problem, facts)
    purpose, decided = decision.get("purpose"), decision.get("decided_at")
    if purpose not in (subject.get("purposes") or []):
        return _section("outside-consent", f"the generation's purpose {purpose!r} is not among "
                        f"those the consent covers ({', '.join(subject.get('purposes') or [])})",
                        facts)
    if not _within(decided, claims.get("validFrom"), claims.get("validUntil")):
        return _section("outside-consent", f"the generation ({decided}) falls outside the "
                        f"consent's validity ({claims.get('validFrom')} to "
                        f"{claims.get('validUntil') or 'no end'})", facts)
    covered = (f"issued by {found.issuer_name}, covering {purpose!r} on {decided}")
    return _status(claims, facts, covered, anchors, status_list, now)


def _status(claims: dict[str, Any], facts: dict[str, Any], covered: str,
            anchors: Sequence[x509.Certificate], status_list: str | None,
            now: dt.datetime) -> dict[str, Any]:
    entry = claims.get("credentialStatus") or {}
    if status_list is None:
        return _section("status-unknown", f"the consent credential is valid ({covered}); "
                        "whether it was revoked since is unknown: no status list was given",
                        facts)
    checked = check_jwt(status_list, anchors, now, STATUS_LIST_TYPE)
    listed = checked.claims or {}
    if not checked.trusted or listed.get("id") != entry.get("statusListCredential") or (
            listed.get("issuer") or {}).get("id") != facts["issuer_id"]:
        why = checked.problem or "it is another issuer's list"
        return _section("status-unknown", f"the consent credential is valid ({covered}); the "
                        f"status list given does not count: {why}", facts)
    as_of = listed.get("validFrom")
    try:
        revoked = revoked_bit(listed, int(entry["statusListIndex"]))
    except (KeyError, ValueError, IndexError, OSError):
        return _section("status-unknown", "the status list or the credential's entry in it is "
                                          "malformed", facts)
    facts = {**facts, "status_list_date": as_of}
    if revoked:
        return _section("revoked", f"the consent was revoked (status list of {as_of}); the "
                                   f"generation itself was covered ({covered})", facts)
    return _section("in-force", f"the consent is in force (status list of {as_of}); "
                                f"{covered}", facts)


def _section(verdict: str, reason: str, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"verdict": verdict, "reason": reason, **(facts or {})}


def _subject(claims: dict[str, Any]) -> dict[str, Any]:
    subject = claims.get("credentialSubject")
    return subject if isinstance(subject, dict) else {}


def _within(moment: str | None, start: str | None, end: str | None) -> bool:
    """ISO-8601 UTC texts of one format (records.iso): they compare as strings."""
    if not moment or not start:
        return False
    return start <= moment and (end is None or moment < end)
