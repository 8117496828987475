"""Presets: named sets of parameters that the CLI, the API and the UI start from. `standard` is
the official defaults; a parameter set explicitly wins; a deployment's presets come from its
policy and a bad one stops the service, naming it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import InputError, SonicService
from sonic_ext.adapters import cli
from sonic_ext.adapters.ui.generate import PARAM_ORDER, GenerateHandlers
from sonic_ext.contracts import GenerationParams
from sonic_ext.policy import load_policy
from sonic_ext.presets import BUILT_IN, resolve

LECTURE = '[presets.lecture]\nsteps = 20\nmin_resolution = 768\ndynamic_scale = 0.9\n'


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.toml"
    path.write_text(text)
    return path


def test_standard_is_the_official_defaults_and_given_values_win() -> None:
    assert resolve(None, {}, {}) == resolve("standard", {}, {}) == GenerationParams()
    assert resolve("fast", {}, {}) == GenerationParams(steps=10, interpolate=False)
    assert resolve("quality", {}, {}) == GenerationParams(steps=30, min_resolution=1024)
    assert resolve("quality", {"steps": 12, "seed": 0}, {}) == \
        GenerationParams(steps=12, min_resolution=1024, seed=0)
    with pytest.raises(InputError, match="no preset 'turbo'; choose one of fast, standard, "
                                         "quality"):
        resolve("turbo", {}, {})
    for values in BUILT_IN.values():  # every built-in preset is in range
        GenerationParams(**values).validate()


def test_a_deployment_adds_presets_in_its_policy(tmp_path: Path) -> None:
    policy = load_policy(policy_file(tmp_path, LECTURE + '[presets.fast]\nsteps = 6\n'))
    assert resolve("lecture", {}, policy.presets) == \
        GenerationParams(steps=20, min_resolution=768, dynamic_scale=0.9)
    assert resolve("fast", {}, policy.presets) == GenerationParams(steps=6)  # redefined whole
    assert resolve("quality", {}, policy.presets).min_resolution == 1024  # the others stay


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[presets.standard]\nsteps = 5\n", "presets.standard", "cannot be redefined"),
    ("[presets.lecture]\nstep = 20\n", "presets.lecture.step", "not a generation parameter"),
    ("[presets.lecture]\nsteps = 500\n", "steps", "must be between 1 and 100, got 500"),
    ("[presets.lecture]\nmin_resolution = 700\n", "min_resolution", "a multiple of 64"),
    ("[presets.\"Two Words\"]\nsteps = 5\n", "presets", "does not match"),
    ("[presets.empty]\n", "presets.empty", "should be non-empty"),
])
def test_a_bad_preset_stops_the_policy_naming_it(tmp_path: Path, text: str, key: str,
                                                 problem: str) -> None:
    with pytest.raises(InputError) as caught:
        load_policy(policy_file(tmp_path, text))
    assert caught.value.field.endswith(key) and problem in caught.value.problem, caught.value


def test_the_cli_starts_from_the_preset_and_its_flags_win(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["generate", "--image", "i.png", "--audio", "a.wav", "--out", "o.mp4"]
    args = cli.build_parser().parse_args([*base, "--preset", "quality", "--steps", "12",
                                          "--no-interpolate"])
    assert resolve(args.preset, cli.given_params(args), {}) == \
        GenerationParams(steps=12, min_resolution=1024, interpolate=False)
    args = cli.build_parser().parse_args(base)  # no flag given: the official defaults
    assert cli.given_params(args) == {} and cli.params_from_args(args) == GenerationParams()

    code = cli.main(["--home", str(tmp_path), *base, "--preset", "turbo"])
    assert code == 2
    assert "error: --preset: no preset 'turbo'; choose one of fast" in capsys.readouterr().err


def test_choosing_a_preset_in_the_ui_fills_every_parameter(service: SonicService) -> None:
    handlers = GenerateHandlers(service)
    filled = dict(zip(PARAM_ORDER, (update["value"] for update in
                                    handlers.preset_values("fast"))))
    assert filled == GenerationParams(steps=10, interpolate=False).to_dict()
    with pytest.raises(gr.Error, match="no preset 'turbo'"):
        handlers.preset_values("turbo")
