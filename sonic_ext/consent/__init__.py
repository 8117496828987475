"""Consent registry, consent gate and tamper-evident audit log (design §2).

    registry = ConsentRegistry.open(settings, policy)      # creates/migrates the database
    registry.add_consent(name, [portrait], evidence, ["education"], None, "operator")
    decision = ConsentGate(registry).check(image, "education", "api:alice", [consent_id])
    registry.verify_chain().ok
"""

from .gate import (
                   RULE_CLOSER_TO_ANOTHER,
                   RULE_CONSENT_EXPIRED,
                   RULE_CONSENT_NOT_YET_VALID,
                   RULE_CONSENT_REVOKED,
                   RULE_CONSENT_SUPERSEDED,
                   RULE_FACE_TOO_SMALL,
                   RULE_FACE_UNVERIFIABLE,
                   RULE_MULTIPLE_FACES,
                   RULE_NO_FACE,
                   RULE_NOT_GRANTED,
                   RULE_PURPOSE_NOT_ALLOWED,
                   RULE_PURPOSE_NOT_COVERED,
                   RULE_UNKNOWN_FACE,
                   ConsentGate,
                   FaceCheck,
                   GateDecision,
                   GateRefused,
)
from .records import (
                   AuditEntry,
                   ChainReport,
                   ConsentDetails,
                   ConsentRecord,
                   GenerationRecord,
                   TracedGeneration,
                   utc_now,
)
from .registry import GENERATION_STATUSES, ConsentRegistry

__all__ = [
    "AuditEntry", "ChainReport", "ConsentDetails", "ConsentGate", "ConsentRecord",
    "ConsentRegistry", "FaceCheck", "GENERATION_STATUSES", "GateDecision", "GateRefused",
    "GenerationRecord", "RULE_CLOSER_TO_ANOTHER", "RULE_CONSENT_EXPIRED",
    "RULE_CONSENT_NOT_YET_VALID", "RULE_CONSENT_REVOKED", "RULE_CONSENT_SUPERSEDED",
    "RULE_FACE_TOO_SMALL", "RULE_FACE_UNVERIFIABLE", "RULE_MULTIPLE_FACES", "RULE_NO_FACE",
    "RULE_NOT_GRANTED",
    "RULE_PURPOSE_NOT_ALLOWED", "RULE_PURPOSE_NOT_COVERED", "RULE_UNKNOWN_FACE",
    "TracedGeneration", "utc_now",
]
