"""Run by the WebUI at every launch (a subprocess of the host's Python, cwd = the WebUI root).

Installs only what is missing of our dependencies (pyproject.toml: the core list and the `ml`,
`identity` and `provenance` extras; the host brings gradio and FastAPI, and torch is the host's
alone). Never changes torch, gradio, a package the host pins in its `requirements_versions.txt`
(the host reinstalls its pins at the next launch when a version differs: research/webui.md §1.3)
or anything else already installed:

1. pip resolves (`--dry-run --report`) our missing requirements with one constraints file: every
   installed distribution at its installed version, and the host's pins for what is not
   installed yet. Where that is impossible, pip refuses and nothing is installed.
2. Only the distributions the resolution adds are installed, exactly those versions, `--no-deps`.

A host environment can already break a requirement of its own (our smoke hosts run torch 2.14,
which asks for setuptools>=77, with the host's setuptools==69.5.1 forced in). pip would refuse
anything that touches it; such a package is left out of the constraints, and whatever the
resolution wanted to do to it is not done. insightface is not installed in a WebUI: the dlib
backend is the default, insightface's model packs are downloaded separately anyway, and on
Python 3.11 it needs onnx>=1.13, i.e. protobuf>=3.20.2, while both hosts pin protobuf==3.20.0.
Where running our pipeline showed an incompatibility that package metadata does not declare
(RUNTIME_LIMITS), a constraint keeps us to versions that work with the host's. A requirement
installed at a version we do not support is reported, not "fixed".
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion
except ImportError:  # pragma: no cover - every WebUI venv has packaging, but pip always does
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.version import InvalidVersion

try:
    import tomllib
except ImportError:  # Python 3.10 (A1111): tomli if present, else the copy pip vendors
    try:
        import tomli as tomllib
    except ImportError:
        from pip._vendor import tomli as tomllib

HERE = Path(__file__).resolve().parent
WEBUI_EXTRAS = ("ml", "identity", "provenance")
HOST_REQUIREMENTS = "requirements_versions.txt"  # in the WebUI root, our working directory
HOST_OWNED = ("torch",)  # the WebUI installs the build for its GPU; we never install one
NOT_IN_WEBUI = ("insightface",)  # see the module docstring
PREFIX = "sd-webui-sonic:"
# What package metadata does not say, found by running our pipeline in the hosts: with an
# installed package below a version, a constraint for what we install, and why.
RUNTIME_LIMITS = (
    ("transformers", "4.48", "diffusers<0.37",
     ("diffusers 0.37 imports Dinov2WithRegistersConfig, which transformers has from 4.48 on "
      "(A1111 1.10.1 pins 4.30.2, Forge 4.46.1)")),
)


def our_requirements(pyproject: Path = HERE / "pyproject.toml") -> list[Requirement]:
    """What a WebUI needs of ours: the core list and the WebUI extras, for this Python."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in WEBUI_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return [r for r in map(Requirement, specs)
            if (r.marker is None or r.marker.evaluate()) and canonical(r.name) not in NOT_IN_WEBUI]


def installed_versions() -> dict[str, str]:
    versions = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[canonical(name)] = dist.version
    return versions


def broken_requirements() -> dict[str, str]:
    """Installed packages at a version another installed package rules out (what `pip check`
    reports), each with the reason."""
    installed = installed_versions()
    broken = {}
    for dist in importlib.metadata.distributions():
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            name = canonical(req.name)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            if name in installed and not satisfies(req, installed[name]):
                broken[name] = (f"{dist.metadata['Name']} {dist.version} requires {req}, but "
                                f"{req.name} {installed[name]} is installed")
    return broken


def host_pins(path: Path) -> dict[str, str]:
    """The `name==version` lines of a WebUI's requirements_versions.txt (bare names, such as
    its `torch` line, pin nothing); an absent file pins nothing."""
    pins = {}
    if not path.is_file():
        return pins
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            print(f"{PREFIX} ignoring unreadable line in {path.name}: {line!r}")
            continue
        exact = [s.version for s in req.specifier if s.operator == "=="]
        if len(exact) == 1 and (req.marker is None or req.marker.evaluate()):
            pins[canonical(req.name)] = exact[0]
    return pins


def plan(requirements: list[Requirement], installed: dict[str, str]
         ) -> tuple[list[Requirement], list[str]]:
    """Split into (to install, warnings): about installed versions outside our range, and about
    missing packages only the host may install."""
    missing, warnings = [], []
    for req in requirements:
        version = installed.get(canonical(req.name))
        if version is None and canonical(req.name) in HOST_OWNED:
            warnings.append(f"{req.name} is not installed; the WebUI installs it for its GPU, "
                            "sd-webui-sonic does not")
        elif version is None:
            missing.append(req)
        elif not satisfies(req, version):
            warnings.append(f"{req.name} {version} is installed; sd-webui-sonic is tested with "
                            f"{req.name}{req.specifier} but leaves the host's version alone")
    return missing, warnings


def runtime_limits(versions: dict[str, str]) -> dict[str, str]:
    """RUNTIME_LIMITS that apply to these installed (or pinned) versions: constraint -> why."""
    limits = {}
    for package, below, constraint, why in RUNTIME_LIMITS:
        if package in versions and not satisfies(Requirement(f"{package}>={below}"),
                                                 versions[package]):
            limits[constraint] = why
    return limits


def constraints_text(installed: dict[str, str], pins: dict[str, str] | None = None,
                     leave_out: frozenset[str] = frozenset(),
                     limits: tuple[str, ...] = ()) -> str:
    """Installed distributions where they are (pip may only add, never change), then the host's
    pins for what is not installed yet, one line per package so the two never contradict; then
    the runtime limits for what we add."""
    merged = {**(pins or {}), **installed}
    return "".join([f"{name}=={version}\n" for name, version in sorted(merged.items())
                    if name not in leave_out] + [f"{limit}\n" for limit in limits])


def additions(report: dict, installed: dict[str, str], leave_out: frozenset[str]) -> list[str]:
    """`name==version` of each distribution the resolution adds. A change to an installed one
    is not made: expected only for `leave_out`, anything else means the pins did not hold."""
    added = []
    for item in report.get("install", []):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if canonical(name) not in installed:
            added.append(f"{name}=={version}")
        elif canonical(name) not in leave_out:
            raise RuntimeError(f"pip wanted to change {name} {installed[canonical(name)]} to "
                               f"{version}; nothing was installed")
    return added


def satisfies(req: Requirement, version: str) -> bool:
    """Whether `version` meets `req`; a version PEP 440 cannot read is given the benefit."""
    try:
        return req.specifier.contains(version, prereleases=True)
    except InvalidVersion:
        return True


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def limit_warnings(limits: dict[str, str], installed: dict[str, str]) -> list[str]:
    """Installed packages outside a runtime limit: reported with the fix, never changed."""
    warnings = []
    for limit, why in limits.items():
        req = Requirement(limit)
        version = installed.get(canonical(req.name))
        if version is not None and not satisfies(req, version):
            warnings.append(f"{req.name} {version} is installed, but here Sonic needs {limit} "
                            f"({why}); left as it is: pip install \"{limit}\" fixes it")
    return warnings


def install_missing(launch: Any, missing: list[Requirement], installed: dict[str, str],
                    pins: dict[str, str], limits: dict[str, str]) -> int:
    """Steps 1-2 of the module docstring, through the host's `launch.run_pip`."""
    broken = broken_requirements()
    for reason in broken.values():
        print(f"{PREFIX} the host's environment already has a conflict, left as it is: {reason}")
    for limit, why in limits.items():
        print(f"{PREFIX} also constraining {limit}: {why}")
    names = " ".join(f'"{req}"' for req in missing)
    print(f"{PREFIX} missing {', '.join(map(str, missing))}; resolving with {len(installed)} "
          f"installed packages and {len(pins)} pins of the WebUI's {HOST_REQUIREMENTS} fixed")
    with tempfile.TemporaryDirectory(prefix="sonic-install-") as tmp:
        constraints, report = Path(tmp) / "constraints.txt", Path(tmp) / "report.json"
        constraints.write_text(constraints_text(installed, pins, frozenset(broken),
                                                tuple(limits)))
        try:
            launch.run_pip(f'install --dry-run --report "{report}" {names} -c "{constraints}"',
                           "sd-webui-sonic requirements: resolving")
            if not report.is_file():
                print(f"{PREFIX} pip did not run (--skip-install?); nothing installed")
                return 0
            added = additions(json.loads(report.read_text()), installed, frozenset(broken))
            print(f"{PREFIX} installing {' '.join(added)}")
            launch.run_pip("install --no-deps " + " ".join(f'"{a}"' for a in added),
                           f"sd-webui-sonic requirements: {len(added)} packages")
        except RuntimeError as exc:
            print(f"{PREFIX} nothing installed: our requirements do not fit next to the "
                  f"installed and pinned packages (those stay as they are); the Sonic tab says "
                  f"what is missing.\n{exc}")
            return 1
    print(f"{PREFIX} installed {len(added)} packages; torch, gradio and the host's pins unchanged")
    return 0


def main() -> int:
    import launch  # the host's helpers; only importable inside a WebUI

    installed = installed_versions()
    pins = host_pins(Path.cwd() / HOST_REQUIREMENTS)
    limits = runtime_limits({**pins, **installed})
    missing, warnings = plan(our_requirements(), installed)
    for warning in warnings + limit_warnings(limits, installed):
        print(f"{PREFIX} {warning}")
    if not missing:
        print(f"{PREFIX} all requirements present, nothing installed")
        return 0
    return install_missing(launch, missing, installed, pins, limits)


if __name__ == "__main__":
    sys.exit(main())
