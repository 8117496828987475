"""The C2PA manifest we sign into every generated MP4, built from the facts of one generation.

Contents (design §4): claim generator (our name + version); `c2pa.actions.v2` with `c2pa.created`
(trainedAlgorithmicMedia, softwareAgent = Sonic + our version, model checksums, the two inputs)
and `c2pa.watermarked`; the `c2pa.soft-binding` assertion carrying the watermark ID (c2pa-rs
refuses a watermarked action without one); our consent-decision, consent-credential and
generation assertions. The
portrait and the audio are `inputTo` ingredients with their sha256 in metadata, because a plain
ingredient carries no content hash of its own (research §1.4). The BMFF hard binding is added by
c2pa-rs when it signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import hashing
from .._version import __version__
from ..errors import InputError
from ..media.inputs import media_type_of
from . import watermark
from .labels import (
    CONSENT_LABEL,
    CREDENTIAL_LABEL,
    GENERATION_LABEL,
    NAMESPACE,
    PRODUCT,
)

SHA256_KEY = f"{NAMESPACE}.sha256"
# Not on the C2PA soft-binding algorithm list; the name is ours and versioned so a detector
# knows which mark and payload layout to expect. 0.1.0 wrote ".imwatermark-dwtdctsvd.1".
SOFT_BINDING_ALG = f"{NAMESPACE}.tiled-luma-ss.{watermark.VERSION}"
TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")


@dataclass(frozen=True)
class InputFile:
    """A file that went into the generation: recorded as an `inputTo` ingredient."""

    path: Path
    label: str  # "portrait" or "audio": the id the created action points at
    mime: str
    sha256: str

    @classmethod
    def of(cls, path: Path, label: str, mime: str | None = None) -> InputFile:
        """`mime` defaults to what the file's content is (media.inputs), never its name."""
        return cls(path, label, mime or media_type_of(path, label), file_sha256(path))

    def ingredient(self) -> dict[str, object]:
        return {"title": self.path.name, "relationship": "inputTo", "label": self.label,
                "metadata": {SHA256_KEY: self.sha256}}


@dataclass(frozen=True)
class GenerationFacts:
    """What the caller knows about one generation; everything here ends up in the manifest."""

    portrait: InputFile
    audio: InputFile
    watermark_id: str
    model_checksums: Mapping[str, str]  # model file name -> sha256
    consent: Mapping[str, Any]  # the consent gate's decision record
    parameters: Mapping[str, Any]  # seed, steps, resolution, ...
    title: str = "sonic.mp4"
    # the registry's signed credentials of the consents relied on, and its status list's id
    consent_credentials: tuple[str, ...] = ()
    status_list_id: str | None = None
    # what actually ran, not what was asked for: device, dtype and offload after `auto` and the
    # CPU's fp32 fallback were applied
    runtime: Mapping[str, str] = field(default_factory=dict)
    test_weights: bool = False  # seeded test weights (`models make-tiny`), not the Sonic model
    # lip_sync=auto: the finished frames' measured offset and how far the sound was moved
    lip_sync: Mapping[str, Any] | None = None


def file_sha256(path: Path) -> str:
    try:
        return hashing.file_sha256(path)
    except OSError as exc:
        raise InputError(str(path), f"cannot be read: {exc.strerror}") from exc


def build_manifest(facts: GenerationFacts, *, credentials_label: str) -> dict[str, object]:
    """The manifest definition for c2pa's Builder (ingredients are added from their files)."""
    model = "seeded TEST WEIGHTS, not the Sonic model," if facts.test_weights else \
        "Sonic talking-head model"
    agent = {"name": f"{model} via {PRODUCT}", "version": __version__}
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "description": "Talking-head video generated from one portrait and one speech clip.",
        "parameters": {
            "ingredientIds": [facts.portrait.label, facts.audio.label],
            "models": dict(facts.model_checksums),
        },
    }
    watermarked = {
        "action": "c2pa.watermarked",
        "softwareAgent": agent,
        "description": f"Invisible watermark in every frame; its ID is the value of the "
                       f"c2pa.soft-binding assertion ({SOFT_BINDING_ALG}).",
    }
    soft_binding = {
        "alg": SOFT_BINDING_ALG,
        "blocks": [{"scope": {}, "value": facts.watermark_id}],  # empty scope: every frame
        "pad": [],
    }
    generation = {
        "product": PRODUCT,
        "version": __version__,
        "signing_credentials": credentials_label,
        "test_weights": facts.test_weights,
        "parameters": dict(facts.parameters),
        "runtime": dict(facts.runtime),
        **({"lip_sync": dict(facts.lip_sync)} if facts.lip_sync is not None else {}),
        "watermark": {"id": facts.watermark_id, "method": watermark.METHOD,
                      "soft_binding_alg": SOFT_BINDING_ALG, "keyed": True},
    }
    return {
        "claim_generator_info": [{"name": PRODUCT, "version": __version__}],
        "title": facts.title,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [created, watermarked]}},
            {"label": "c2pa.soft-binding", "data": soft_binding},
            {"label": CONSENT_LABEL, "data": dict(facts.consent)},
            *([{"label": CREDENTIAL_LABEL,
                "data": {"credentials": list(facts.consent_credentials),
                         "status_list": facts.status_list_id}}]
              if facts.consent_credentials else []),
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }
