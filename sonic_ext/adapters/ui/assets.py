"""The extension's page assets (`style.css`, `javascript/*.js`) for the standalone app.

A WebUI injects both into its page itself (research/webui.md §1.5); the standalone app has to
hand them to gradio. They live at the extension root, where the WebUI looks for them, and in a
wheel as package data (`package_data.py`); without them the UI still works, only without the
client-side extras.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ...package_data import data_path

log = logging.getLogger(__name__)

def stylesheet(path: Path | None = None) -> str:
    path = path or data_path("style.css")
    if not path.is_file():
        log.info("no %s: the UI runs with gradio's own styles", path)
        return ""
    return path.read_text(encoding="utf-8")


def scripts_head(folder: Path | None = None) -> str:
    """Every `javascript/*.js` as an inline <script>, in name order as a WebUI loads them."""
    folder = folder or data_path("javascript")
    scripts = sorted(folder.glob("*.js"))
    if not scripts:
        log.info("no scripts in %s: the UI runs without its client-side helpers", folder)
    return "".join(f"<script>\n{path.read_text(encoding='utf-8')}\n</script>\n"
                   for path in scripts)
