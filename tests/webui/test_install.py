"""install.py's decisions: which of our requirements it installs; it changes nothing else."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_requirements_are_ours_and_never_the_hosts_web_stack(install: ModuleType) -> None:
    names = {r.name.lower() for r in install.our_requirements()}
    assert {"pillow", "jsonschema", "torch", "diffusers", "transformers", "librosa", "dlib-bin",
            "c2pa-python", "invisible-watermark"} <= names
    assert not names & {"gradio", "fastapi", "uvicorn", "pydantic"}


def test_only_missing_requirements_are_installed(install: ModuleType) -> None:
    reqs = [install.Requirement(s) for s in ("torch>=2.1", "diffusers>=0.29", "av>=12",
                                              "Pillow>=9.5")]
    installed = {"torch": "2.1.2", "diffusers": "0.25.0", "pillow": "9.5.0"}
    missing, warnings = install.plan(reqs, installed)
    assert [r.name for r in missing] == ["av"]
    assert warnings == [("diffusers 0.25.0 is installed; sd-webui-sonic is tested with "
                         "diffusers>=0.29 but leaves the host's version alone")]


def test_every_installed_distribution_is_pinned(install: ModuleType) -> None:
    text = install.constraints_text({"torch": "2.1.2+cu121", "gradio": "3.41.2"})
    assert text == "gradio==3.41.2\ntorch==2.1.2+cu121\n"
    assert "pillow==" in install.constraints_text(install.installed_versions()).lower()


def test_host_pins_are_the_exact_versions_of_its_requirements_file(install: ModuleType,
                                                                   tmp_path: Path) -> None:
    hosts = REPO / "constraints" / "hosts"
    pins = install.host_pins(hosts / "a1111-1.10.1-requirements_versions.txt")
    assert (pins["gradio"], pins["setuptools"], pins["pytorch-lightning"]) == \
        ("3.41.2", "69.5.1", "1.9.4")
    assert "torch" not in pins  # the file's bare `torch` line pins nothing
    assert install.host_pins(tmp_path / "absent.txt") == {}


def test_installed_versions_win_over_host_pins_and_broken_ones_are_left_out(
        install: ModuleType) -> None:
    text = install.constraints_text({"numpy": "1.26.4", "setuptools": "69.5.1"},
                                    {"numpy": "1.26.2", "protobuf": "3.20.0"},
                                    leave_out=frozenset({"setuptools"}))
    assert text == "numpy==1.26.4\nprotobuf==3.20.0\n"


def test_only_additions_are_installed_and_a_change_stops_everything(install: ModuleType) -> None:
    def report(*items: tuple[str, str]) -> dict:
        return {"install": [{"metadata": {"name": n, "version": v}} for n, v in items]}

    installed = {"torch": "2.14.1", "setuptools": "69.5.1"}
    added = install.additions(report(("av", "18.1.0"), ("setuptools", "80.0.0")), installed,
                              frozenset({"setuptools"}))
    assert added == ["av==18.1.0"]  # the host's own setuptools conflict is not ours to fix
    with pytest.raises(RuntimeError, match="pip wanted to change torch 2.14.1 to 2.15.0"):
        install.additions(report(("av", "18.1.0"), ("torch", "2.15.0")), installed, frozenset())


def test_torch_is_never_installed_and_insightface_not_in_a_webui(install: ModuleType) -> None:
    missing, warnings = install.plan([install.Requirement("torch>=2.1")], {})
    assert missing == [] and "the WebUI installs it" in warnings[0]
    assert "insightface" not in {r.name for r in install.our_requirements()}


def test_runtime_limits_follow_the_hosts_transformers(install: ModuleType) -> None:
    a1111 = install.runtime_limits({"transformers": "4.30.2"})
    assert list(a1111) == ["diffusers<0.37"]
    assert install.runtime_limits({"transformers": "4.48.0"}) == {}
    assert install.runtime_limits({}) == {}
    assert install.constraints_text({"torch": "2.1.2"}, limits=tuple(a1111)) == \
        "torch==2.1.2\ndiffusers<0.37\n"
    (warning,) = install.limit_warnings(a1111, {"diffusers": "0.37.1"})
    assert warning.startswith("diffusers 0.37.1 is installed, but here Sonic needs diffusers<0.37")
    assert install.limit_warnings(a1111, {"diffusers": "0.36.0"}) == []
