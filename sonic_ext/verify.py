"""One verdict for any file (design §4): what its C2PA manifest and our watermark say together.

    authentic           manifest valid and trusted, watermark consistent with its soft binding
    valid-untrusted     manifest valid, signer not among the trust anchors
    tampered            a hash, signature or assertion mismatch, or a watermark that
                        contradicts the manifest
    stripped-recovered  no manifest, but a watermark whose ID this registry recorded
    watermark-unknown   no manifest, a watermark whose ID this registry does not know
    no-provenance       neither
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import InputError
from .requests import VerifyReport

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


def read_evidence(path: Path, trust: Any) -> Evidence:
    from .provenance.reading import read_manifest
    from .provenance.watermark import detect_video

    suffix = path.suffix.lower()
    mime = VIDEO_TYPES.get(suffix) or OTHER_TYPES.get(suffix)
    if mime is None:
        raise InputError("file", f"cannot verify {suffix or 'files without a suffix'}",
                         hint=f"supported: {', '.join([*VIDEO_TYPES, *OTHER_TYPES])}")
    evidence = Evidence(manifest=read_manifest(path, trust, mime))
    if suffix in VIDEO_TYPES:
        try:
            evidence.watermark = detect_video(path)
        except InputError as exc:
            if evidence.manifest is None or _unparseable(evidence.manifest):
                raise InputError("file", f"not a readable video: {exc.problem}") from None
            evidence.reason("watermark.unreadable", f"no frames could be checked: {exc}")
    return evidence


def _unparseable(manifest: Any) -> bool:
    return [f["code"] for f in manifest.failures] == ["manifest.unreadable"]


def judge(path: Path, evidence: Evidence,
          lookup: Callable[[str], tuple[dict[str, Any], dict[str, Any]] | None]) -> VerifyReport:
    """The verdict; `lookup(watermark_id)` gives (generation, consent) records, or None."""
    manifest, mark = evidence.manifest, evidence.watermark
    found_id = mark.watermark_id if mark is not None and mark.present else None
    claimed_id = manifest.watermark_id if manifest is not None else None
    records = lookup(found_id or claimed_id) if (found_id or claimed_id) else None
    if manifest is not None:
        verdict = _judge_manifest(manifest, found_id, claimed_id, evidence)
    elif found_id is not None:
        verdict = "stripped-recovered" if records else "watermark-unknown"
        evidence.reason("c2pa.absent", "the file carries no C2PA manifest (a re-encode or "
                                       "remux removes it)")
        evidence.reason("watermark.found", f"our watermark {found_id} is in the frames" +
                        (", and this registry recorded its generation" if records else
                         ", but this registry has no record of it"))
    else:
        verdict = "no-provenance"
        evidence.reason("none", "neither a C2PA manifest nor our watermark was found")
    generation, consent = records if records else (None, None)
    return VerifyReport(path=path, verdict=verdict, reasons=tuple(evidence.reasons),
                        c2pa={"present": manifest is not None,
                              **(_manifest_summary(manifest) if manifest is not None else {})},
                        watermark=mark.to_dict() if mark is not None else {"checked": False},
                        generation=generation, consent=consent)


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
    if state == "Trusted":
        evidence.reason("c2pa.trusted", "the manifest is intact and signed by a trusted signer"
                        + (" (development credentials)" if manifest.development_credentials
                           else ""))
        return "authentic"
    evidence.reason("c2pa.untrusted", "the manifest is intact, but its signer is not among "
                                      "the trust anchors")
    return "valid-untrusted"
