"""Named sets of generation parameters, as workflow templates are for ComfyUI users.

A preset names only the parameters it changes; the others keep their official defaults, and any
parameter a caller sets explicitly wins over the preset (`resolve`). Built in: `standard` (the
official defaults, which the golden cases pin), `fast` and `quality`. A deployment adds or
redefines presets under `[presets.<name>]` in its policy file; `standard` stays the official
defaults. Every preset is checked when the policy loads, so a typo stops the service, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .contracts import GenerationParams
from .errors import InputError
from .parameters import param_specs

STANDARD = "standard"
BUILT_IN: dict[str, dict[str, Any]] = {
    # fewer steps and no RIFE (12.5 fps): for drafts
    "fast": {"steps": 10, "interpolate": False},
    STANDARD: {},
    # 1024 px; beyond about 28 steps users saw no gain (research/sonic.md, ComfyUI #37)
    "quality": {"steps": 30, "min_resolution": 1024},
}


def all_presets(deployment: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The built-in presets with the deployment's (a policy's `presets` table) over them."""
    return {**BUILT_IN, **{name: dict(values) for name, values in deployment.items()}}


def check_presets(deployment: Mapping[str, Mapping[str, Any]], where: str) -> None:
    """Raise InputError naming the first bad preset of a policy: `standard` redefined, an
    unknown parameter, or a value out of its range."""
    specs = {spec.name: spec for spec in param_specs(GenerationParams)}
    for name, values in deployment.items():
        key = f"{where}: presets.{name}"
        if name == STANDARD:
            raise InputError(key, "`standard` is the official defaults and cannot be "
                                  "redefined; name the preset otherwise")
        for param, value in values.items():
            if param not in specs:
                raise InputError(f"{key}.{param}", f"not a generation parameter (they are: "
                                                   f"{', '.join(specs)})")
            specs[param].check(value)


def resolve(preset: str | None, given: Mapping[str, Any],
            deployment: Mapping[str, Mapping[str, Any]]) -> GenerationParams:
    """The parameters of a request: defaults, then the preset's values, then those `given`."""
    table = all_presets(deployment)
    name = preset or STANDARD
    if name not in table:
        raise InputError("preset", f"no preset {name!r}; choose one of {', '.join(table)}")
    return GenerationParams(**{**table[name], **given})
