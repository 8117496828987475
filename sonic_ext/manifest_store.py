"""The manifest store: the registry's generations table, as the publish step's recorder.

Publishing records a generation just before the file appears; the registry refuses that record
if the consent stopped being in force meanwhile, which stops the publish. A record of a file that
then never appeared is marked failed, so the store never points at an output that is not there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .consent import ConsentRegistry
from .provenance.publish import GenerationRecord


class RegistryRecorder:
    """The `GenerationRecorder` handed to `publish_signed_mp4`, writing to the registry;
    remembers the id of what it recorded."""

    def __init__(self, registry: ConsentRegistry, consent_id: str, actor: str, *,
                 also_relies_on: Sequence[str] = ()) -> None:
        """`also_relies_on`: the consents of everyone else in the video; a revocation of any
        of them before the record is written stops the publish too."""
        self.registry = registry
        self.consent_id = consent_id
        self.also_relies_on = tuple(also_relies_on)
        self.actor = actor
        self.generation_id: str | None = None

    def __call__(self, record: GenerationRecord) -> None:
        if record.status == "failed" and self.generation_id is not None:
            self.registry.mark_generation_failed(self.generation_id, self.actor,
                                                 record.error or "not published")
            return
        stored = self.registry.record_generation(
            consent_id=self.consent_id, status=record.status, actor=self.actor,
            output_sha256=record.output_sha256, watermark_id=record.watermark_id,
            manifest=json.loads(record.manifest_json) if record.manifest_json else None,
            parameters={**record.parameters, **({"error": record.error} if record.error else {})},
            also_relies_on=self.also_relies_on, fingerprint=record.fingerprint)
        if record.status == "published":
            self.generation_id = stored.id
