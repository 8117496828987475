"""The gradio UI (one Blocks for the standalone app and the WebUI tab)."""

from .blocks import build_ui

__all__ = ["build_ui"]
