"""The layout shows the architecture: the core (the package root and its stages) never imports
an adapter (`sonic_ext.adapters`: CLI, app, API, UI, job runner, WebUI glue)."""

from __future__ import annotations

import ast
from pathlib import Path

import sonic_ext

PACKAGE = Path(sonic_ext.__file__).parent
ENTRY = {"__main__.py"}  # `python -m sonic_ext` runs the CLI


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The modules `path` imports, relative ones resolved against `package`."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(parts[:len(parts) - node.level]) if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_core_never_imports_an_adapter() -> None:
    core = [p for p in PACKAGE.rglob("*.py")
            if "adapters" not in p.relative_to(PACKAGE).parts and p.name not in ENTRY]
    assert len(core) > 50
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p)
                                                    if m.startswith("sonic_ext.adapters"))
                 for p in core}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_an_adapter_import(tmp_path: Path) -> None:
    """The scan resolves relative imports: `from ..adapters import cli` is one."""
    probe = tmp_path / "sonic_ext" / "consent" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..adapters import cli\nfrom .gate import ConsentGate\n")
    assert {"sonic_ext.adapters", "sonic_ext.adapters.cli",
            "sonic_ext.consent.gate"} <= _imports(probe, tmp_path / "sonic_ext")
