"""The Sonic section of a WebUI's Settings page, and the copies it controls.

Harmless options only: any API client may change a WebUI option (Forge ignores `restrict_api`,
research/webui.md §2.2), so consent, signing and limits stay with our command-line flags and
the policy file. What is here: whether each video is also saved under the WebUI's outputs
folder (`outputs/sonic/<date>/`, where its users look), that folder (inside the WebUI's own
folder: an option must not be able to write files elsewhere), the preset the Generate tab starts
with, how many past videos the History tab lists, and whether its "tell me when it is done" box
starts ticked.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from ..errors import SonicError
from ..presets import BUILT_IN, STANDARD, all_presets

log = logging.getLogger(__name__)

SECTION = ("sonic", "Sonic")
PREFIX = "sonic_"
SAVE_COPY = "save_to_webui_outputs"
COPY_FOLDER = "webui_outputs_dir"
HISTORY_SIZE = "history_size"
NOTIFY = "notify_when_done"
PRESET = "default_preset"
DEFAULTS: dict[str, Any] = {SAVE_COPY: True, COPY_FOLDER: "outputs/sonic", HISTORY_SIZE: 50,
                            NOTIFY: False, PRESET: STANDARD}
T = TypeVar("T")


def on_ui_settings() -> None:
    """Declare the options (the host calls this before it builds the Settings page)."""
    import gradio as gr
    from modules import shared

    def add(name: str, info: Any) -> None:
        shared.opts.add_option(PREFIX + name, info)

    add(SAVE_COPY, shared.OptionInfo(
        DEFAULTS[SAVE_COPY], "Also save each Sonic video under the WebUI's outputs folder",
        gr.Checkbox, section=SECTION).info("a byte-identical copy, signed like the original, "
                                            "in a folder per day"))
    add(COPY_FOLDER, shared.OptionInfo(
        DEFAULTS[COPY_FOLDER], "Folder for those copies, inside the WebUI's folder", gr.Textbox,
        shared.hide_dirs, section=SECTION))
    shared.restricted_opts.add(PREFIX + COPY_FOLDER)  # read-only under --hide-ui-dir-config
    add(PRESET, shared.OptionInfo(
        DEFAULTS[PRESET], "Preset the Sonic Generate tab starts with", gr.Dropdown,
        lambda: {"choices": preset_names()}, section=SECTION)
        .info("fast, standard (the official defaults), quality, or one of the policy file's")
        .needs_reload_ui())
    add(HISTORY_SIZE, shared.OptionInfo(
        DEFAULTS[HISTORY_SIZE], "How many of your past videos the Sonic History tab lists",
        gr.Slider, {"minimum": 5, "maximum": 500, "step": 5}, section=SECTION))
    add(NOTIFY, shared.OptionInfo(
        DEFAULTS[NOTIFY], "Sound, and a browser notification while the page is in the "
        "background, when a Sonic video is ready or fails", gr.Checkbox, section=SECTION)
        .info("the Generate tab's \"Tell me when it is done\" box starts ticked")
        .needs_reload_ui())


def preset_names() -> list[str]:
    """The built-in presets and the deployment's (its policy), for the option's choices."""
    from .webui import make_service

    try:
        return list(all_presets(make_service().policy.presets))
    except SonicError as exc:  # the Sonic tab says what is wrong; the Settings page still opens
        log.warning("listing only the built-in presets: %s", exc)
        return list(BUILT_IN)


def option(name: str, default: T) -> T:
    """The option's value as the host stores it; `default` before it is declared."""
    from modules import shared

    value = getattr(shared.opts, PREFIX + name, default)
    try:
        return type(default)(value)  # the host may keep an int as a float
    except (TypeError, ValueError):
        log.warning("ignoring the WebUI option %s%s = %r", PREFIX, name, value)
        return default


def save_copy(out: Path) -> Path | None:
    """Copy a published video to `<copy folder>/<YYYY-MM-DD>/<its name>` unless the option is
    off (`copy_published`: whole or absent). A failure is logged, not raised: the signed
    original is already published. The copy's path, or None."""
    if not option(SAVE_COPY, True):
        return None
    from modules import paths_internal

    folder = copies_folder(paths_internal.data_path, option(COPY_FOLDER, DEFAULTS[COPY_FOLDER]))
    if folder is None:
        return None
    from ..provenance.publish import copy_published  # C2PA and the detector load on use

    day = folder / date.today().isoformat()
    try:
        return copy_published(out, day)
    except OSError as exc:
        log.warning("could not save a copy of %s in %s: %s", out.name, day, exc)
        return None


def copies_folder(data_path: str | Path, setting: str) -> Path | None:
    """The folder the option names (relative to the WebUI's folder), if it lies inside it."""
    root = Path(data_path).resolve()
    folder = (root / str(setting or DEFAULTS[COPY_FOLDER]).strip()).resolve()
    if folder != root and root not in folder.parents:
        log.warning("not saving a copy of the Sonic video: the folder %r is outside the WebUI's "
                    "folder %s", setting, root)
        return None
    return folder
