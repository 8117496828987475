"""The consent policy: `policy/default.toml`, overridden key by key by a deployment's file.

A policy that does not validate against `policy/schema.json` stops the service from starting,
with an error that names the offending key: a typo must never silently loosen the gate.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from .errors import InputError
from .package_data import data_path
from .presets import check_presets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (A1111)
    import tomli as tomllib

DEFAULT_POLICY = data_path("policy/default.toml")
SCHEMA = data_path("policy/schema.json")


@dataclass(frozen=True)
class Policy:
    """The validated policy; `data` keeps the full document for decision records."""

    data: Mapping[str, Any]
    sources: tuple[Path, ...]

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def allowed_purposes(self) -> tuple[str, ...]:
        return tuple(self.data["purposes"]["allowed"])

    @property
    def presets(self) -> Mapping[str, Mapping[str, Any]]:
        """The deployment's own presets (`presets.all_presets` adds the built-in ones)."""
        return self.data.get("presets", {})

    @property
    def max_audio_seconds(self) -> float:
        return float(self.data["generation"]["max_audio_seconds"])

    @property
    def max_image_pixels(self) -> int:
        return int(self.data["limits"]["max_image_pixels"])

    @property
    def max_video_frame_pixels(self) -> int:
        return int(self.data["limits"]["max_video_frame_pixels"])

    def threshold(self, model_id: str) -> float:
        thresholds = self.data["identity"]["thresholds"]
        if model_id not in thresholds:
            raise InputError(f"policy identity.thresholds.{model_id}",
                             "no threshold for this face model; add one to the policy")
        return float(thresholds[model_id])


def load_policy(override: Path | None = None) -> Policy:
    """Default policy, then the deployment's `override` merged key by key, then validation."""
    data = _read_toml(DEFAULT_POLICY)
    sources = [DEFAULT_POLICY]
    if override is not None:
        data = _merge(data, _read_toml(override))
        sources.append(override)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise InputError(f"policy {sources[-1]}: {key}", first.message)
    check_presets(data.get("presets", {}), f"policy {sources[-1]}")
    return Policy(data, tuple(sources))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("policy", f"file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"policy {path}", f"not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
