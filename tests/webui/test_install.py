"""install.py's decisions: which of our requirements it installs, and that it pins the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def install() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sonic_install", REPO / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirements_are_core_plus_ml_and_never_the_hosts_web_stack(install: ModuleType) -> None:
    names = {r.name.lower() for r in install.our_requirements()}
    assert {"pillow", "jsonschema", "torch", "diffusers", "transformers", "librosa"} <= names
    assert not names & {"gradio", "fastapi", "uvicorn", "pydantic"}


def test_only_missing_requirements_are_installed(install: ModuleType) -> None:
    reqs = [install.Requirement(s) for s in ("torch>=2.1", "diffusers>=0.29", "av>=12",
                                              "Pillow>=9.5")]
    installed = {"torch": "2.1.2", "diffusers": "0.25.0", "pillow": "9.5.0"}
    missing, warnings = install.plan(reqs, installed)
    assert [r.name for r in missing] == ["av"]
    assert warnings == ["diffusers 0.25.0 is installed; sd-webui-sonic is tested with "
                        "diffusers>=0.29 but leaves the host's version alone"]


def test_every_installed_distribution_is_pinned(install: ModuleType) -> None:
    text = install.constraints_text({"torch": "2.1.2+cu121", "gradio": "3.41.2"})
    assert text == "gradio==3.41.2\ntorch==2.1.2+cu121\n"
    assert "pillow==" in install.constraints_text(install.installed_versions()).lower()
