"""A generation parameter is declared once (`contracts.GenerationParams`) and every surface
derives from that declaration: adding one is a one-place change."""

from __future__ import annotations

import argparse
import dataclasses

import gradio as gr
import pytest

from sonic_ext.adapters.api.models import params_schema
from sonic_ext.adapters.cli import add_param_flags, build_parser, params_from_args
from sonic_ext.adapters.ui.generate import parameter_inputs, params_from_ui
from sonic_ext.contracts import GenerationParams
from sonic_ext.errors import InputError
from sonic_ext.parameters import param, param_specs
from sonic_ext.sonic.pipeline import PipelineSettings

# A new parameter, declared in the one place a parameter is declared
WithWobble = dataclasses.make_dataclass(
    "WithWobble",
    [("wobble", float, param(0.5, "how much the ears wobble", "Ear wobble",
                             low=0.0, high=1.0))],
    bases=(GenerationParams,), frozen=True)


def _json_schema(model: type) -> dict:
    """pydantic 2 (`model_json_schema`) or 1 (`schema`), as the WebUI hosts have either."""
    return model.model_json_schema() if hasattr(model, "model_json_schema") else model.schema()


def test_a_new_parameter_is_validated() -> None:
    assert WithWobble(wobble=1.0).validate().wobble == 1.0
    with pytest.raises(InputError, match=r"wobble: must be in \[0.0, 1.0\], got 1.5") as info:
        WithWobble(wobble=1.5).validate()
    assert info.value.field == "wobble"


def test_a_new_parameter_is_a_cli_flag() -> None:
    parser = argparse.ArgumentParser()
    add_param_flags(parser, params_class=WithWobble)
    assert "how much the ears wobble (default: 0.5; 0.0 to 1.0)" in \
        " ".join(parser.format_help().split())
    args = parser.parse_args(["--wobble", "0.25", "--steps", "3", "--no-crop"])
    assert params_from_args(args, params_class=WithWobble) == \
        WithWobble(wobble=0.25, steps=3, crop=False)
    assert params_from_args(parser.parse_args([]), params_class=WithWobble) == WithWobble()


def test_a_new_parameter_is_in_the_api_schema_with_its_bounds() -> None:
    wobble = _json_schema(params_schema(WithWobble))["properties"]["wobble"]
    assert (wobble["description"], wobble["default"], wobble["title"]) == \
        ("how much the ears wobble", 0.5, "Ear wobble")
    assert (wobble["type"], wobble["minimum"], wobble["maximum"]) == ("number", 0.0, 1.0)


def test_a_new_parameter_is_a_ui_widget_with_its_bounds() -> None:
    with gr.Blocks():
        widgets = parameter_inputs(WithWobble())
    assert len(widgets) == len(dataclasses.fields(WithWobble))
    wobble = widgets[-1]
    assert isinstance(wobble, gr.Slider)
    assert (wobble.minimum, wobble.maximum, wobble.value, wobble.label, wobble.elem_id) == \
        (0.0, 1.0, 0.5, "Ear wobble", "sonic_wobble")
    assert params_from_ui({"wobble": 1, "steps": 3.0}, WithWobble) == WithWobble(wobble=1.0,
                                                                               steps=3)


def test_a_new_parameter_reaches_the_pipeline_and_the_manifest() -> None:
    params = WithWobble(wobble=0.75)
    assert PipelineSettings(params).params.wobble == 0.75
    assert params.to_dict()["wobble"] == 0.75  # the manifest's parameters are this dict


def test_every_declared_parameter_is_on_every_surface() -> None:
    """The real surfaces are built from the declarations, with their bounds."""
    specs = param_specs(GenerationParams)
    generate = build_parser()._subparsers._group_actions[0].choices["generate"]  # type: ignore[union-attr]
    flags = {option for action in generate._actions for option in action.option_strings}
    assert {spec.cli_flag for spec in specs} <= flags
    schema = _json_schema(params_schema())["properties"]
    assert list(schema) == [spec.name for spec in specs]
    for spec in specs:
        assert schema[spec.name]["description"] == spec.help
        if spec.low is not None:
            assert schema[spec.name]["maximum"] == spec.high
        if spec.choices:
            assert schema[spec.name]["enum"] == list(spec.choices)
    with gr.Blocks():
        widgets = parameter_inputs(GenerationParams())
    assert [w.elem_id for w in widgets] == [f"sonic_{spec.name}" for spec in specs]
    sliders = {w.elem_id: (w.minimum, w.maximum) for w in widgets if isinstance(w, gr.Slider)}
    assert sliders["sonic_steps"] == (1, 100) and sliders["sonic_min_resolution"] == (256, 2048)
