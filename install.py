"""Run by the WebUI at every launch (a subprocess of the host's Python, cwd = the WebUI root).

Installs only what is missing of our dependencies (pyproject.toml: the core list and the `ml`
extra; the host brings gradio and FastAPI). Every distribution already installed is passed to
pip as a constraint at its installed version, so installing never changes torch, gradio, any
package the host pins, or anything else. A requirement that is installed at a version we do not
support is reported, not "fixed". Prints what it did.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tempfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover - every WebUI venv has packaging, but pip always does
    from pip._vendor.packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10 (A1111): tomli if present, else the copy pip vendors
    try:
        import tomli as tomllib
    except ImportError:
        from pip._vendor import tomli as tomllib

HERE = Path(__file__).resolve().parent
WEBUI_EXTRAS = ("ml", "identity", "provenance")


def our_requirements(pyproject: Path = HERE / "pyproject.toml") -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in WEBUI_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return [r for r in map(Requirement, specs) if r.marker is None or r.marker.evaluate()]


def installed_versions() -> dict[str, str]:
    versions = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[_canonical(name)] = dist.version
    return versions


def plan(requirements: list[Requirement], installed: dict[str, str]
         ) -> tuple[list[Requirement], list[str]]:
    """Split into (to install, warnings about installed versions outside our range)."""
    missing, warnings = [], []
    for req in requirements:
        version = installed.get(_canonical(req.name))
        if version is None:
            missing.append(req)
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            warnings.append(f"{req.name} {version} is installed; sd-webui-sonic is tested with "
                            f"{req.name}{req.specifier} but leaves the host's version alone")
    return missing, warnings


def constraints_text(installed: dict[str, str]) -> str:
    """Pin every installed distribution where it is: pip may only add, never change."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def main() -> int:
    import launch  # the host's helpers; only importable inside a WebUI

    installed = installed_versions()
    missing, warnings = plan(our_requirements(), installed)
    for warning in warnings:
        print(f"sd-webui-sonic: {warning}")
    if not missing:
        print("sd-webui-sonic: all requirements present, nothing installed")
        return 0
    with tempfile.NamedTemporaryFile("w", suffix="-sonic-constraints.txt", delete=False) as fh:
        fh.write(constraints_text(installed))
    names = " ".join(f'"{req}"' for req in missing)
    print(f"sd-webui-sonic: installing {', '.join(map(str, missing))} (installed packages pinned)")
    try:
        launch.run_pip(f'install {names} -c "{fh.name}"', f"sd-webui-sonic requirements: {names}")
    finally:
        Path(fh.name).unlink(missing_ok=True)
    print("sd-webui-sonic: installed " + ", ".join(req.name for req in missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
