"""The few places where gradio 3.41 (AUTOMATIC1111) and 4.x (Forge, standalone) differ for us.

Everything else in `sonic_ext.adapters.ui` uses the subset both accept (research/webui.md §10.2): no
`.style()`, no `Component.update`, no gradio-4-only keyword arguments, handlers return plain
values or `gr.update(...)`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])
# where gradio prints `traceback.print_exc()` for an exception a handler raised (3.41: routes,
# 4.x: queueing), gr.Error included
_PRINTS_HANDLER_ERRORS = ("gradio.routes", "gradio.queueing")
_OUR_CODE = str(Path(__file__).resolve().parents[2])  # the sonic_ext package
log = logging.getLogger(__name__)


def upload_path(value: Any) -> Path | None:
    """The path of a `gr.File` value: a str on gradio 4, a temp-file object with `.name` on 3."""
    if value is None or value == "":
        return None
    return Path(getattr(value, "name", value))


def upload_paths(values: Iterable[Any] | Any | None) -> list[Path]:
    """The paths of a `gr.File(file_count="multiple")` value (a list on both versions)."""
    if values is None:
        return []
    if isinstance(values, (str, Path)) or hasattr(values, "name"):
        values = [values]
    return [path for path in map(upload_path, values) if path is not None]


def custom_values() -> dict[str, bool]:
    """`gr.Dropdown` keywords that let a direct API call send a value outside the choices:
    gradio 4 validates values and needs `allow_custom_value`; gradio 3.41 does not validate
    and refuses that keyword together with `multiselect`."""
    return {"allow_custom_value": True} if GRADIO_MAJOR >= 4 else {}


def page_options(css: str, head: str) -> dict[str, Any]:
    """`gr.Blocks` keywords for the standalone page: gradio 3 has no `head`, so no scripts.
    gradio 4 copies every video it shows into its cache; those copies go after a day. The
    theme uses the system's fonts: the default one asks Google Fonts for them, and machines
    without internet wait for that."""
    if GRADIO_MAJOR < 4:
        return {"css": css}
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "Consolas", "monospace"])
    return {"css": css, "head": head, "theme": theme, "delete_cache": (3600, 86400)}


def shown_inline(error: gr.Error) -> gr.Error:
    """The same error for callers of gradio's API, without the page's popup, for a handler
    that has shown it inline already (gradio 4.38+; older versions always pop it up)."""
    if "visible" not in inspect.signature(gr.Error.__init__).parameters:
        return error
    return gr.Error(error.message, visible=False)


def keep_out_of_ui_config(*components: gr.components.Component) -> None:
    """Stop a WebUI from saving these components' defaults to `ui-config.json`.

    A1111 and Forge record the value of every labelled input of a tab and restore it at the
    next start (`modules/ui_loadsave.py`), so an edited file could pre-fill a purpose or an
    admin token. The hosts skip components carrying this attribute (research/webui.md §2.1).
    """
    for component in components:
        component.do_not_save_to_config = True


def quiet_refusal_tracebacks() -> None:
    """Make gradio print our refusals as one line instead of a 40-line traceback each.

    gradio prints a full traceback for every exception a handler raises, gr.Error included,
    so each ordinary refusal (no consent, a bad file) flooded the server console. Only a
    gr.Error raised by our own handlers becomes one line (and an entry in our log); every
    other exception, another extension's included, keeps its traceback. Idempotent."""
    for name in _PRINTS_HANDLER_ERRORS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        printer = getattr(module, "traceback", None)
        if isinstance(printer, ModuleType):
            module.traceback = _RefusalsInOneLine(printer)  # type: ignore[attr-defined]


class _RefusalsInOneLine:
    """The `traceback` module as gradio's modules see it, `print_exc` aside."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def print_exc(self, *args: Any, **kwargs: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, gr.Error) and _raised_by_us(error.__traceback__):
            log.info("refused in the UI: %s", error.message)
            print(f"Sonic: {error.message}", file=sys.stderr)
            return
        self._real.print_exc(*args, **kwargs)


def _raised_by_us(tb: TracebackType | None) -> bool:
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_OUR_CODE):
            return True
        tb = tb.tb_next
    return False
