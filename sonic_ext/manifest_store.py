"""The manifest store: the registry's generations table, written as a generation ends.

A published generation is recorded just before its file appears; the registry refuses that
record if a consent it relies on stopped being in force meanwhile, which stops the publish. A
generation that fails, or whose file then never appears, is recorded as failed, so the store
never points at an output that is not there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .consent import ConsentRegistry, GenerationRecord
from .errors import PublishError, raised_as
from .provenance.publish import SignedOutput

log = logging.getLogger(__name__)


class GenerationLog:
    """What the registry keeps of one generation: published, or failed and why."""

    def __init__(self, registry: ConsentRegistry, consent_id: str, actor: str, *,
                 watermark_id: str, parameters: Mapping[str, Any],
                 also_relies_on: Sequence[str] = ()) -> None:
        """`also_relies_on`: the consents of everyone else in the video; a revocation of any
        of them before the record is written stops the publish too."""
        self.registry = registry
        self.consent_id = consent_id
        self.actor = actor
        self.watermark_id = watermark_id
        self.parameters = dict(parameters)
        self.also_relies_on = tuple(also_relies_on)
        self.recorded: GenerationRecord | None = None

    def published(self, signed: SignedOutput, fingerprint: bytes) -> GenerationRecord:
        """Record the signed output about to be published. Raises ConsentRefused when a
        consent it relies on is no longer in force, PublishError when the registry fails."""
        with raised_as(lambda exc: PublishError(f"the registry could not record the "
                                                f"generation: {exc}")):
            self.recorded = self.registry.record_generation(
                consent_id=self.consent_id, status="published", actor=self.actor,
                output_sha256=signed.sha256, watermark_id=self.watermark_id,
                manifest=signed.manifest, parameters=self.parameters,
                also_relies_on=self.also_relies_on, fingerprint=fingerprint)
        return self.recorded

    def failed(self, error: BaseException) -> None:
        """Record that nothing was published, and why; never raises, since the caller must see
        the original failure."""
        try:
            if self.recorded is not None:
                self.registry.mark_generation_failed(self.recorded.id, self.actor, str(error))
                return
            self.registry.record_generation(
                consent_id=self.consent_id, status="failed", actor=self.actor,
                watermark_id=self.watermark_id,
                parameters={**self.parameters, "error": str(error)},
                also_relies_on=self.also_relies_on)
        except Exception:  # logged; the original failure is what matters
            log.exception("could not record the failed generation %s", self.watermark_id)
