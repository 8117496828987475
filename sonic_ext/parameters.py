"""One declaration per generation parameter, from which every surface derives what it shows.

A parameter is a field of `contracts.GenerationParams` declared with `param(...)`: its name and
default, what it does, its range or choices, its UI label and widget. Validation, the CLI flags,
the API schema (descriptions and bounds), the UI widgets and their bounds all read these
declarations (`param_specs`), and the pipeline reads the parameters themselves, so adding a
parameter is one new field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InputError

Widget = Literal["number", "slider", "checkbox", "dropdown"]
_SPEC = "sonic_param"


@dataclass(frozen=True)
class ParamSpec:
    """What one generation parameter is, everywhere it appears."""

    name: str
    default: Any
    help: str
    label: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is out of range
    multiple_of: int | None = None
    choices: tuple[str, ...] = ()
    note: str = ""  # said along with a range error
    step: float | None = None  # the UI slider's step (multiple_of when unset)
    widget: Widget | None = None  # derived from the kind when unset
    advanced: bool = True  # in the UI's "Advanced parameters" section

    @property
    def kind(self) -> type:
        """bool, int, float or str: the type of the default."""
        return type(self.default)

    @property
    def ui_widget(self) -> Widget:
        if self.widget is not None:
            return self.widget
        if self.kind is bool:
            return "checkbox"
        if self.choices:
            return "dropdown"
        return "slider" if self.low is not None and self.high is not None else "number"

    @property
    def ui_step(self) -> float:
        return self.step or self.multiple_of or (1 if self.kind is int else 0.05)

    @property
    def cli_flag(self) -> str:
        """`--min-resolution`; a switch that is on by default is turned off by `--no-crop`."""
        flag = self.name.replace("_", "-")
        return f"--no-{flag}" if self.default is True else f"--{flag}"

    def check(self, value: object) -> None:
        """Raise InputError naming this parameter when `value` is not one it accepts."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise InputError(self.name, "must be true or false")
        elif self.choices:
            if value not in self.choices:
                raise InputError(self.name, f"must be one of {', '.join(self.choices)}, "
                                            f"got {value!r}")
        elif self.kind is int:
            self._check_int(value)
        else:
            self._check_float(value)

    def _check_int(self, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(self.name, f"must be a whole number, got {value!r}")
        if not self.low <= value <= self.high:  # type: ignore[operator]
            extra = f" ({self.note})" if self.note else ""
            raise InputError(self.name, f"must be between {self.low} and {self.high}{extra}, "
                                        f"got {value}")
        if self.multiple_of and value % self.multiple_of:
            raise InputError(self.name, f"must be a multiple of {self.multiple_of}, got {value}")

    def _check_float(self, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(self.name, f"must be a number, got {value!r}")
        low, high = self.low, self.high
        too_low = value <= low if self.low_open else value < low  # type: ignore[operator]
        if too_low or value > high or math.isnan(value):  # type: ignore[operator]
            bracket = "(" if self.low_open else "["
            raise InputError(self.name, f"must be in {bracket}{low}, {high}], got {value}")


def param(default: Any, help: str, label: str, **spec: Any) -> Any:
    """A GenerationParams field: its default plus the ParamSpec every surface reads."""
    return dataclasses.field(default=default,
                             metadata={_SPEC: dict(default=default, help=help, label=label,
                                                   **spec)})


def param_specs(params_class: type) -> tuple[ParamSpec, ...]:
    """The declarations of a GenerationParams class (or a subclass adding parameters), in
    field order: the order of the UI inputs and of gradio's /generate API."""
    return tuple(ParamSpec(name=f.name, **f.metadata[_SPEC])
                 for f in dataclasses.fields(params_class))


def check_params(params: Any) -> None:
    """Raise InputError naming the first parameter out of range."""
    for spec in param_specs(type(params)):
        spec.check(getattr(params, spec.name))
