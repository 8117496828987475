"""Files the package reads at run time that live at the repository root, where a WebUI wants
them (`policy/`, `style.css`, `javascript/`). In an installed wheel they are package data under
`sonic_ext/data` (setup.py copies them at build time), found through importlib.resources; in a
source tree or a WebUI extension folder, where they are."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def data_path(relative: str) -> Path:
    """The packaged copy of `relative` (e.g. "policy/default.toml") when there is one, else the
    file or folder at the source root."""
    packaged = resources.files(__package__).joinpath("data", *relative.split("/"))
    if isinstance(packaged, Path) and packaged.exists():
        return packaged
    return SOURCE_ROOT / relative
