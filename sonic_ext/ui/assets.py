"""The extension's page assets (`style.css`, `javascript/*.js`) for the standalone app.

A WebUI injects both into its page itself (research/webui.md §1.5); the standalone app has to
hand them to gradio. They live at the extension root, where the WebUI looks for them; an
installation without them (a wheel) still works, only without the client-side extras.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

EXTENSION_ROOT = Path(__file__).resolve().parents[2]


def stylesheet(root: Path = EXTENSION_ROOT) -> str:
    path = root / "style.css"
    if not path.is_file():
        log.info("no %s: the UI runs with gradio's own styles", path)
        return ""
    return path.read_text(encoding="utf-8")


def scripts_head(root: Path = EXTENSION_ROOT) -> str:
    """Every `javascript/*.js` as an inline <script>, in name order as a WebUI loads them."""
    scripts = sorted((root / "javascript").glob("*.js"))
    if not scripts:
        log.info("no scripts in %s: the UI runs without its client-side helpers",
                 root / "javascript")
    return "".join(f"<script>\n{path.read_text(encoding='utf-8')}\n</script>\n"
                   for path in scripts)
