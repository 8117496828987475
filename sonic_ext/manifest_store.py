"""The manifest store: the registry's generations table, as the publish step's recorder.

Publishing records a generation just before the file appears; the registry refuses that record
if the consent stopped being in force meanwhile, which stops the publish. A record of a file that
then never appeared is marked failed, so the store never points at an output that is not there.
"""

from __future__ import annotations

import json

from .consent import ConsentRegistry
from .provenance.publish import GenerationRecord


class RegistryRecorder:
    """The `GenerationRecorder` handed to `publish_signed_mp4`, writing to the registry;
    remembers the id of what it recorded."""

    def __init__(self, registry: ConsentRegistry, consent_id: str, actor: str) -> None:
        self.registry = registry
        self.consent_id = consent_id
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
            parameters={**record.parameters, **({"error": record.error} if record.error else {})})
        if record.status == "published":
            self.generation_id = stored.id
