"""Consent registry, consent gate and tamper-evident audit log (design §2).

    registry = ConsentRegistry.open(settings, policy)      # creates/migrates the database
    registry.add_consent(name, [portrait], evidence, ["education"], None, "operator")
    decision = ConsentGate(registry).check(image, "education", "api:alice", [consent_id])
    registry.verify_chain().ok

The names below load on first use (PEP 562), so that the light modules of this package
(`fields`, `grantees`) can be imported by every surface without SQLAlchemy and the face models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ loads these
    from .gate import ConsentGate, FaceCheck, GateDecision, GateRefused  # noqa: F401
    from .records import (  # noqa: F401
        AuditEntry,
        ChainReport,
        ConsentDetails,
        ConsentRecord,
        GenerationRecord,
        TracedGeneration,
        utc_now,
    )
    from .registry import GENERATION_STATUSES, ConsentRegistry  # noqa: F401

_WHERE = {
    **dict.fromkeys((
        "RULE_CLOSER_TO_ANOTHER", "RULE_CONSENT_EXPIRED", "RULE_CONSENT_NOT_YET_VALID",
        "RULE_CONSENT_REVOKED", "RULE_CONSENT_SUPERSEDED", "RULE_FACE_TOO_SMALL",
        "RULE_FACE_UNVERIFIABLE", "RULE_MULTIPLE_FACES", "RULE_NO_FACE", "RULE_NOT_GRANTED",
        "RULE_PURPOSE_NOT_ALLOWED", "RULE_PURPOSE_NOT_COVERED", "RULE_UNKNOWN_FACE",
        "ConsentGate", "FaceCheck", "GateDecision", "GateRefused"), "gate"),
    **dict.fromkeys((
        "AuditEntry", "ChainReport", "ConsentDetails", "ConsentRecord", "GenerationRecord",
        "TracedGeneration", "utc_now"), "records"),
    **dict.fromkeys(("GENERATION_STATUSES", "ConsentRegistry"), "registry"),
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
