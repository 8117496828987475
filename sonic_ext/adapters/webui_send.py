""""Send to Sonic" under the WebUI's result galleries: txt2img, img2img and Extras.

The host's own mechanism for its "Send to" buttons (`modules.infotext_utils`): when a gallery's
"Send to extras" button is created (`on_after_component`), ours joins it in the same row and is
registered as a paste button for the tab "sonic"; the Sonic tab names its hidden image input as
that tab's image (`accept_sent_images`); the host connects both once its whole UI is built. The
picked picture then arrives in the Generate tab as the portrait (`GenerateHandlers.receive_sent`),
and the consent gate checks it like any upload.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

SOURCE_TABS = ("txt2img", "img2img", "extras")
TAB = "sonic"  # the paste target's name; javascript/sonic.js defines switch_to_sonic()
SENT_IMAGE_ID = "sonic_sent_image"
TOOLTIP = "Send the image to Sonic as the portrait (the consent gate checks it there)"
_galleries: dict[str, Any] = {}  # the result gallery of each source tab, as the host builds it


def on_after_component(component: Any, **kwargs: Any) -> None:
    """Remember each result gallery; add our button after its row's "Send to extras"."""
    tab, _, role = str(kwargs.get("elem_id") or "").partition("_")
    if tab not in SOURCE_TABS:
        return
    if role == "gallery":
        _galleries[tab] = component
    elif role == "send_to_extras" and tab in _galleries:
        from modules import infotext_utils
        from modules.ui_components import ToolButton

        button = ToolButton("🗣️", elem_id=f"{tab}_send_to_sonic", tooltip=TOOLTIP)
        infotext_utils.register_paste_params_button(infotext_utils.ParamBinding(
            paste_button=button, tabname=TAB, source_image_component=_galleries[tab]))


def accept_sent_images(blocks: gr.Blocks) -> None:
    """Name the Sonic tab's hidden image input as where the "Send to Sonic" buttons put pictures."""
    from modules import infotext_utils

    sent = next(block for block in blocks.blocks.values()
                if getattr(block, "elem_id", None) == SENT_IMAGE_ID)
    infotext_utils.add_paste_fields(TAB, sent, None)
