"""Read back what a file carries: its C2PA manifest under our trust settings, and its watermark.

This is the raw material for `service.verify` (which adds the registry lookup and the verdict)
and the check `sign.py` runs on every file it signs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa

from ..errors import InputError
from .identity_assertion import (
    IdentityReading,
    has_identity,
    label_of_code,
    read_identities,
)
from .keys import DEV_LABEL
from .manifest import CONSENT_LABEL, GENERATION_LABEL
from .trust import TrustPolicy
from .watermark import DEFAULT_SAMPLE_FRAMES, WatermarkDetection, detect_mark
from .watermark_key import WatermarkKey


@dataclass(frozen=True)
class ManifestReading:
    """The active manifest of a file and how it validated."""

    store: dict[str, Any]  # Reader.json(): every manifest, validation results and state
    validation_state: str  # "Trusted", "Valid" or "Invalid"
    success_codes: tuple[str, ...]
    informational_codes: tuple[str, ...]
    failures: tuple[dict[str, str], ...]  # {"code", "explanation"} per failed check
    # the CAWG identity assertions, with their own findings (not among the claim's failures)
    identities: tuple[IdentityReading, ...] = ()

    @property
    def active(self) -> dict[str, Any]:
        """The active manifest; empty when the C2PA data could not be parsed at all."""
        return self.store.get("manifests", {}).get(self.store.get("active_manifest"), {})

    def assertion(self, label: str) -> dict[str, Any] | None:
        for item in self.active.get("assertions", []):
            if item.get("label") == label:
                return item.get("data")
        return None

    @property
    def watermark_id(self) -> str | None:
        """The ID in the soft-binding assertion (what the frames should carry)."""
        binding = self.assertion("c2pa.soft-binding")
        return binding["blocks"][0]["value"] if binding and binding.get("blocks") else None

    @property
    def consent(self) -> dict[str, Any] | None:
        return self.assertion(CONSENT_LABEL)

    @property
    def development_credentials(self) -> bool:
        generation = self.assertion(GENERATION_LABEL) or {}
        return generation.get("signing_credentials") == DEV_LABEL

    @property
    def test_weights(self) -> bool:
        """Made with seeded test weights, as the signed generation assertion says."""
        return bool((self.assertion(GENERATION_LABEL) or {}).get("test_weights"))

    def to_dict(self) -> dict[str, object]:
        return {
            "validation_state": self.validation_state,
            "active_manifest": self.store.get("active_manifest"),
            "signature": self.active.get("signature_info"),
            "development_credentials": self.development_credentials,
            "test_weights": self.test_weights,
            "watermark_id": self.watermark_id,
            "failures": list(self.failures),
            "success_codes": list(self.success_codes),
            "informational_codes": list(self.informational_codes),
            "identity_assertions": [r.to_dict() for r in self.identities],
        }


@dataclass(frozen=True)
class ProvenanceReading:
    """Both halves of provenance for one file; either may be missing in a stripped copy."""

    manifest: ManifestReading | None
    watermark: WatermarkDetection

    def to_dict(self) -> dict[str, object]:
        return {"manifest": self.manifest.to_dict() if self.manifest else None,
                "watermark": self.watermark.to_dict()}


UNREADABLE = "manifest.unreadable"  # our code: C2PA data present but too damaged to parse


def read_manifest(path: Path, trust: TrustPolicy, mime: str = "video/mp4",
                  ) -> ManifestReading | None:
    """The file's manifest validated under `trust`, or None when it carries none.

    C2PA data too damaged to parse (c2pa raises instead of reporting) reads as "Invalid" with
    the failure code `manifest.unreadable`: for an auditor that is tampering, not bad input.
    """
    try:
        with trust.context() as context, path.open("rb") as stream:
            reader = c2pa.Reader.try_create(mime, stream, None, context)
            if reader is None:
                return None
            with reader:
                store = json.loads(reader.json())
    except OSError as exc:
        raise InputError(str(path), f"cannot be read: {exc.strerror}") from exc
    except c2pa.C2paError as exc:
        return ManifestReading(store={}, validation_state="Invalid", success_codes=(),
                               informational_codes=(),
                               failures=({"code": UNREADABLE, "explanation": str(exc)},))
    results = store.get("validation_results", {}).get("activeManifest", {})
    success = tuple(item["code"] for item in results.get("success", []))
    failures = tuple({"code": item["code"], "explanation": item.get("explanation", "")}
                     for item in results.get("failure", []) if label_of_code(item) is None)
    identities = read_identities(store, _read_raw(path, trust, mime)) \
        if has_identity(store) else ()
    return ManifestReading(
        store=store,
        validation_state=_claim_state(store.get("validation_state", "Invalid"), success,
                                      failures),
        success_codes=success,
        informational_codes=tuple(item["code"] for item in results.get("informational", [])),
        failures=failures, identities=identities,
    )


def _claim_state(state: str, success: tuple[str, ...], failures: tuple[dict[str, str], ...]
                 ) -> str:
    """c2pa-rs lowers "Trusted" to "Valid" for any failed identity-assertion check, an
    untrusted CAWG signer included (always so in 0.38.1: identity_assertion.py); the claim's
    state is judged without them, the identity assertion on its own in the Consent section."""
    if state == "Valid" and not failures and "signingCredential.trusted" in success:
        return "Trusted"
    return state


def _read_raw(path: Path, trust: TrustPolicy, mime: str) -> dict[str, Any]:
    """The store again with identity assertions undecoded (their signers' certificates)."""
    try:
        with trust.context(decode_identities=False) as context, path.open("rb") as stream, \
                c2pa.Reader(mime, stream, None, context) as reader:
            return json.loads(reader.json())
    except (OSError, c2pa.C2paError):
        return {}


def read_provenance(path: Path, trust: TrustPolicy, key: WatermarkKey | None, *,
                    known_ids: Sequence[str] = (),
                    max_frames: int = DEFAULT_SAMPLE_FRAMES) -> ProvenanceReading:
    """Manifest (if any) and our mark under `key` (or the 0.1.0 mark) over up to `max_frames`
    sampled frames; `known_ids` as in `watermark.detect_video`."""
    return ProvenanceReading(read_manifest(path, trust),
                             detect_mark(path, key, known_ids=known_ids, max_frames=max_frames))
