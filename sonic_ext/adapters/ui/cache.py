"""Private folders under `<home>/cache` for files the page makes for one user (reports, pictures
sent from the WebUI): gradio copies a file for the user whose handler returned it, so the
originals stay unreadable to others (0700) and are removed after a day."""

from __future__ import annotations

import time
from pathlib import Path

from ...service import SonicService

KEPT_S = 86400


def private_folder(service: SonicService, name: str, pattern: str) -> Path:
    """`<home>/cache/<name>`, made 0700, without its `pattern` files older than KEPT_S."""
    folder = service.settings.cache_dir / name
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    before = time.time() - KEPT_S
    for old in folder.glob(pattern):
        try:
            if old.lstat().st_mtime < before:
                old.unlink()
        except FileNotFoundError:  # another request removed it first
            pass
    return folder
