"""Our requirements resolve under each WebUI host's pins (pip's own resolver, against PyPI).

A dry run for CPython 3.11 manylinux wheels (what both hosts run in our smoke test) of:
- the host's pins as *requirements*, as they stand installed in a real host (research/webui.md,
  appendix: as constraints alone the resolver may pick versions the installed packages forbid),
  its bare `torch` line replaced by the local torch version;
- everything install.py would install (`our_requirements`: core + ml, identity and provenance
  extras, less insightface, which needs protobuf>=3.20.2 on Python 3.11 where both hosts pin
  3.20.0: install.py's docstring says why) and its runtime limits for the host (diffusers<0.37
  next to transformers<4.48).
The host's pins must come out unchanged and each of our requirements satisfied. A pin that the
local torch itself excludes (setuptools==69.5.1 against torch's setuptools>=77) is left out: the
hosts force it after installing torch (research/webui.md §13), which no resolver can reproduce,
and it says nothing about our requirements. Distributions published only as sources (e.g.
jsonmerge 1.8.0, which A1111 pins) are built into wheels first, so their real dependencies take
part.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
HOSTS = sorted((REPO / "constraints" / "hosts").glob("*requirements_versions.txt"))
TARGET = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
          "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
          "--only-binary=:all:"]
NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")


@pytest.fixture(scope="module")
def index_reachable() -> None:
    try:
        httpx.get(INDEX.rstrip("/") + "/pip/", timeout=15, follow_redirects=True
                  ).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"the package index {INDEX} is unreachable ({exc}); this test resolves our "
                    "requirements against it and cannot pass without it", pytrace=False)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels built here from source-only distributions, shared by both hosts' runs."""
    return tmp_path_factory.mktemp("wheelhouse")


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          check=False, timeout=600,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


def _pins_torch_excludes(pins: dict[str, str]) -> set[str]:
    excluded = set()
    for req in map(Requirement, importlib.metadata.requires("torch") or []):
        name = canonicalize_name(req.name)
        if (req.marker is None or req.marker.evaluate({"extra": ""})) and name in pins \
                and not req.specifier.contains(pins[name], prereleases=True):
            excluded.add(name)
    return excluded


def _resolve(requirements: Path, wheelhouse: Path) -> dict[str, str]:
    """name -> version pip would install; a spec found only as source is built once, then
    the resolution is tried again."""
    built: set[str] = set()
    while True:
        run = _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
                   "--find-links", str(wheelhouse), *TARGET, "-r", str(requirements))
        if run.returncode == 0:
            report = json.loads(run.stdout)
            return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                    for item in report["install"]}
        missing = NOT_FOUND.search(run.stderr)
        if missing is None or missing.group(1) in built:
            pytest.fail(f"pip cannot resolve {requirements.name}:\n{run.stderr[-3000:]}",
                        pytrace=False)
        spec = missing.group(1)
        wheel = _pip("wheel", "--no-deps", "--quiet", "-w", str(wheelhouse), spec)
        assert wheel.returncode == 0, f"no wheel and no buildable source for {spec}:\n" \
                                      f"{wheel.stderr[-3000:]}"
        built.add(spec)


def _is(version: str | None, pinned: str) -> bool:
    """`version` is what `==pinned` allows (0.15.0 for 0.15, 2.13.0+cpu for 2.13.0)."""
    return version is not None and SpecifierSet(f"=={pinned}").contains(version, True)


@pytest.mark.parametrize("host_file", HOSTS, ids=[p.name.split("-requirements")[0] for p in HOSTS])
def test_our_requirements_resolve_under_the_hosts_pins(host_file: Path, install: ModuleType,
                                                      index_reachable: None, wheelhouse: Path,
                                                      tmp_path: Path) -> None:
    pins = install.host_pins(host_file)
    assert {"gradio", "fastapi", "numpy", "pillow", "protobuf", "transformers"} <= set(pins)
    assert _pins_torch_excludes(pins) <= {"setuptools"}
    pins = {name: v for name, v in pins.items() if name not in _pins_torch_excludes(pins)}
    torch = importlib.metadata.version("torch").split("+")[0]
    ours = install.our_requirements()
    requirements = tmp_path / "requirements.txt"
    limits = install.runtime_limits(pins)
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in pins.items())
                            + f"torch=={torch}\n" + "".join(f"{req}\n" for req in ours)
                            + "".join(f"{limit}\n" for limit in limits))

    resolved = _resolve(requirements, wheelhouse)

    changed = {name: (version, resolved.get(name)) for name, version in pins.items()
               if not _is(resolved.get(name), version)}
    assert changed == {}, "the host's pins must stay as they are"
    assert _is(resolved["torch"], torch)
    wanted = ours + [Requirement(limit) for limit in limits]
    unmet = {str(req): resolved.get(canonicalize_name(req.name)) for req in wanted}
    unmet = {req: version for req, version in unmet.items()
             if version is None or not Requirement(req).specifier.contains(version, True)}
    assert unmet == {}, f"our requirements not met under {host_file.name}"
