"""The host env is the host's stack: every package the host pins is installed at its pin.

Runs in the venvs setup/host_envs.sh builds (it sets SONIC_HOST_ENV and SONIC_HOST_PINS). Without
this check, a resolver that quietly moved a pin while adding our packages would let the host
stages pass against a stack no user of that host has.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.version import Version

import sonic_ext

REPO = Path(__file__).resolve().parents[2]
HOST = os.environ.get("SONIC_HOST_ENV")
# Pins the host env replaces or leaves out on purpose (setup/host_envs.sh says why).
NOT_FROM_THE_HOST = {"torch", "setuptools"}
# pydantic is unpinned in A1111, where fastapi 0.94 holds it below 2.
PYDANTIC_MAJOR = {"a1111": 1, "forge": 2}

pytestmark = pytest.mark.skipif(HOST is None,
                                reason="runs in the WebUI host envs (setup/host_envs.sh)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _host_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / os.environ["SONIC_HOST_PINS"]).read_text(encoding="utf-8").splitlines():
        spec = line.split("#")[0].strip()
        if "==" in spec:
            name, pinned = spec.split("==")
            pins[_canonical(name)] = pinned.strip()
    return pins


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def test_every_host_pin_is_installed_at_the_pinned_version() -> None:
    pins = _host_pins()
    assert {"gradio", "fastapi", "transformers", "numpy", "protobuf"} <= set(pins)
    wrong = {name: (pinned, _installed(name)) for name, pinned in pins.items()
             if name not in NOT_FROM_THE_HOST
             and (_installed(name) is None or Version(_installed(name)) != Version(pinned))}
    assert wrong == {}, "host pins not installed as pinned (pinned, installed)"


def test_web_stack_is_the_hosts() -> None:
    assert Version(_installed("pydantic")).major == PYDANTIC_MAJOR[HOST]
    assert _installed("gradio") == _host_pins()["gradio"]


def test_torch_is_the_cpu_build_of_our_pin() -> None:
    import torch

    pinned = re.search(r"^torch==(\S+)", (REPO / "constraints" / "standalone.txt")
                       .read_text(encoding="utf-8"), re.MULTILINE).group(1)
    assert torch.__version__ == f"{pinned}+cpu"
    assert torch.version.cuda is None


def test_the_package_under_test_is_this_checkout() -> None:
    assert Path(sonic_ext.__file__).resolve().parent == REPO / "sonic_ext"
