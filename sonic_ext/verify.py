"""One verdict for any file (design §4): what its C2PA manifest and our watermark say together.

    authentic           manifest valid and trusted, watermark consistent with its soft binding
    valid-untrusted     manifest valid, signer not among the trust anchors
    tampered            a hash, signature or assertion mismatch, or a watermark that
                        contradicts the manifest
    stripped-recovered  no manifest, but a watermark whose ID this registry recorded, on the
                        pictures of that generation (its fingerprint matches)
    content-mismatch    no manifest, a watermark this registry recorded, but the pictures are
                        not that generation's: the mark was copied or the content replaced
    stripped-unconfirmed no manifest, a watermark this registry recorded before outputs were
                        fingerprinted: the pictures cannot be confirmed
    watermark-unknown   no manifest, a watermark whose ID this registry does not know
    no-provenance       neither

A watermark alone proves only that someone had one of our outputs (its ID can be copied), so a
stripped copy is traced to its generation only when its pictures match that generation's
fingerprint. A valid manifest needs no such check: its hard binding covers the content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from .contracts import VerifyReport
from .errors import InputError

if TYPE_CHECKING:  # numpy and OpenCV load only when a stripped copy is compared
    from .provenance.fingerprint import Fingerprint, FingerprintMatch

VERDICTS = ("authentic", "valid-untrusted", "tampered", "stripped-recovered", "content-mismatch",
            "stripped-unconfirmed", "watermark-unknown", "no-provenance")
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime"}
OTHER_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
               ".wav": "audio/wav", ".mp3": "audio/mpeg"}


@dataclass
class Evidence:
    """What was read off the file, before any judgement."""

    manifest: Any = None  # provenance.reading.ManifestReading | None
    watermark: Any = None  # provenance.watermark.WatermarkDetection | None (not video)
    reasons: list[dict[str, str]] = field(default_factory=list)

    def reason(self, code: str, text: str) -> None:
        self.reasons.append({"code": code, "text": text})


def read_evidence(path: Path, trust: Any, key: Any = None,
                  known_ids: Sequence[str] = ()) -> Evidence:
    """The manifest, and our mark under `key` (a WatermarkKey; None: only the 0.1.0 mark can
    be read) with `known_ids`, the IDs this registry recorded, for informed detection."""
    from .provenance.reading import read_manifest
    from .provenance.watermark import detect_mark

    suffix = path.suffix.lower()
    mime = VIDEO_TYPES.get(suffix) or OTHER_TYPES.get(suffix)
    if mime is None:
        raise InputError("file", f"cannot verify {suffix or 'files without a suffix'}",
                         hint=f"supported: {', '.join([*VIDEO_TYPES, *OTHER_TYPES])}")
    evidence = Evidence(manifest=read_manifest(path, trust, mime))
    if suffix in VIDEO_TYPES:
        try:
            evidence.watermark = detect_mark(path, key, known_ids=known_ids)
        except InputError as exc:
            if evidence.manifest is None or _unparseable(evidence.manifest):
                raise InputError("file", f"not a readable video: {exc.problem}") from None
            evidence.reason("watermark.unreadable", f"no frames could be checked: {exc}")
    return evidence


def _unparseable(manifest: Any) -> bool:
    return [f["code"] for f in manifest.failures] == ["manifest.unreadable"]


@dataclass(frozen=True)
class Recorded:
    """What the registry holds for a watermark ID: the generation and its consent (as records
    for the report) and the output's fingerprint (None: recorded before fingerprints)."""

    generation: dict[str, Any]
    consent: dict[str, Any]
    fingerprint: bytes | None = field(default=None, repr=False)


Lookup = Callable[[str], Optional[Recorded]]
# (file, watermark detection, the generation's fingerprint) -> FingerprintMatch: whether the
# file's pictures are the fingerprinted video's (the service passes
# provenance.content_check.compare_aligned).
ContentCheck = Callable[[Path, Any, "Fingerprint"], "FingerprintMatch"]


def judge(path: Path, evidence: Evidence, lookup: Lookup, compare: ContentCheck) -> VerifyReport:
    """The verdict; `lookup(watermark_id)` gives the registry's records, or None; `compare`
    decides whether a stripped copy's pictures are those of the generation its mark names."""
    manifest, mark = evidence.manifest, evidence.watermark
    found_id = mark.watermark_id if mark is not None and mark.present else None
    claimed_id = manifest.watermark_id if manifest is not None else None
    records = lookup(found_id or claimed_id) if (found_id or claimed_id) else None
    content: dict[str, Any] = {"checked": False}
    if manifest is not None:
        verdict = _judge_manifest(manifest, found_id, claimed_id, evidence)
    elif found_id is not None:
        evidence.reason("c2pa.absent", "the file carries no C2PA manifest (a re-encode or "
                                       "remux removes it)")
        verdict, content = _judge_stripped(path, mark, found_id, records, evidence, compare)
    else:
        verdict = "no-provenance"
        evidence.reason("none", "neither a C2PA manifest nor our watermark was found")
    shown = records if records is not None and verdict != "content-mismatch" else None
    return VerifyReport(path=path, verdict=verdict, reasons=tuple(evidence.reasons),
                        c2pa={"present": manifest is not None,
                              **(_manifest_summary(manifest) if manifest is not None else {})},
                        watermark=mark.to_dict(_original_size(records)) if mark is not None
                        else {"checked": False},
                        generation=shown.generation if shown else None,
                        consent=shown.consent if shown else None, content=content)


def _original_size(records: Recorded | None) -> tuple[int, int] | None:
    """The marked video's size as its generation recorded it (the short side is the minimum
    resolution unless the portrait's size was kept), so a copy's scale is told against it."""
    parameters = (records.generation.get("parameters") or {}) if records else {}
    side = parameters.get("min_resolution")
    if not isinstance(side, int) or parameters.get("keep_resolution"):
        return None
    return side, side


def _judge_stripped(path: Path, mark: Any, found_id: str, records: Recorded | None,
                    evidence: Evidence, compare: ContentCheck) -> tuple[str, dict[str, Any]]:
    """A watermark without a manifest: unknown, unconfirmed, or traced only if the pictures
    match the fingerprint of the generation the mark names."""
    if records is None:
        evidence.reason("watermark.found", f"our watermark {found_id} is in the frames, but "
                                           "this registry has no record of it")
        return "watermark-unknown", {"checked": False}
    generation_id = records.generation.get("id")
    if records.fingerprint is None:
        evidence.reason("watermark.found", f"our watermark {found_id} is in the frames, and "
                                           f"this registry recorded its generation "
                                           f"{generation_id}")
        evidence.reason("fingerprint.absent", f"generation {generation_id} was recorded before "
                        "outputs were fingerprinted: that these pictures are its video cannot "
                        "be confirmed")
        return "stripped-unconfirmed", {"checked": False, "fingerprint": None}
    from .provenance.fingerprint import Fingerprint

    fingerprint = Fingerprint.from_bytes(records.fingerprint)
    match = compare(path, mark, fingerprint)
    content = {"checked": True, "fingerprint_sha256": hashlib.sha256(records.fingerprint)
               .hexdigest(), **match.to_dict()}
    if match.matched:
        evidence.reason("watermark.found", f"our watermark {found_id} is in the frames, and "
                                           f"this registry recorded its generation "
                                           f"{generation_id}")
        evidence.reason("fingerprint.match", match.explain())
        return "stripped-recovered", content
    evidence.reason("watermark.content-mismatch",
                    f"our watermark {found_id} names generation {generation_id}, but these "
                    "pictures are not that video's: the mark was copied onto other content or "
                    "the content was replaced; the generation's consent does not cover this "
                    f"file ({match.explain()})")
    return "content-mismatch", {**content, "named_generation": records.generation,
                                "named_consent": records.consent}


def _manifest_summary(manifest: Any) -> dict[str, Any]:
    """The reading plus what an auditor reads first: generator, ingredients, assertions."""
    active = manifest.active
    return {
        **manifest.to_dict(),
        "claim_generator": active.get("claim_generator_info"),
        "ingredients": [{"title": i.get("title"), "relationship": i.get("relationship"),
                         "format": i.get("format"), "metadata": i.get("metadata")}
                        for i in active.get("ingredients", [])],
        "assertions": {a.get("label"): a.get("data") for a in active.get("assertions", [])},
    }


def _judge_manifest(manifest: Any, found_id: str | None, claimed_id: str | None,
                    evidence: Evidence) -> str:
    state = manifest.validation_state
    if state == "Invalid":
        codes = [failure["code"] for failure in manifest.failures] or ["validation failed"]
        evidence.reason("c2pa.invalid", "the manifest does not match the file: " +
                        ", ".join(codes))
        return "tampered"
    if claimed_id and found_id and claimed_id != found_id:
        evidence.reason("watermark.mismatch", f"the manifest binds watermark {claimed_id}, "
                                              f"the frames carry {found_id}")
        return "tampered"
    if claimed_id and not found_id:
        evidence.reason("watermark.missing", f"the manifest binds watermark {claimed_id}, "
                                             "which the frames do not carry")
    if manifest.test_weights:
        evidence.reason("weights.test", "made with seeded TEST WEIGHTS (`models make-tiny`), "
                                        "not the Sonic model: a test of the tool, not a real "
                                        "output")
    if state == "Trusted":
        evidence.reason("c2pa.trusted", "the manifest is intact and signed by a trusted signer"
                        + (" (development credentials)" if manifest.development_credentials
                           else ""))
        if manifest.development_credentials:
            evidence.reason("credentials.development", "signed with this installation's "
                            "development credentials: trusted here only, not a production "
                            "signer")
        return "authentic"
    evidence.reason("c2pa.untrusted", "the manifest is intact, but its signer is not among "
                                      "the trust anchors")
    return "valid-untrusted"
