"""A WebUI page in miniature, built in the hosts' order from the fake host modules: Settings
declared, the txt2img, img2img and Extras tabs, whose result galleries have the host's "Send to"
buttons (each component
announced to `on_after_component`, as the hosts' patched gradio does), the extension tabs, then
the paste buttons connected (modules/ui.py `create_ui`)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

RESULT_TABS = ("txt2img", "img2img", "extras")
SEND_TO = ("img2img", "inpaint", "extras")
# Forge (gradio 4) builds its result galleries read-only, handing PIL images to a click's handler
FORGE_GALLERY = ({"interactive": False, "type": "pil"}
                 if int(gr.__version__.split(".")[0]) >= 4 else {})


def build_host_page(gallery_images: list[Path]) -> gr.Blocks:
    """As the hosts' `create_ui`: each tab its own gr.Blocks, built first; then one page
    rendering them as tabs, where the paste buttons are connected."""
    from modules import infotext_utils, script_callbacks
    from modules.ui_components import ToolButton

    infotext_utils.reset()
    script_callbacks.ui_settings_callback()
    interfaces = []
    for tab in RESULT_TABS:  # each with the output panel of ui_common.create_output_panel
        with gr.Blocks(analytics_enabled=False) as blocks:
            gallery = gr.Gallery([str(p) for p in gallery_images], label="Output",
                                 elem_id=f"{tab}_gallery", **FORGE_GALLERY)
            script_callbacks.after_component_callback(gallery, elem_id=f"{tab}_gallery")
            with gr.Row(elem_id=f"image_buttons_{tab}"):
                for target in SEND_TO:
                    button = ToolButton("➡", elem_id=f"{tab}_send_to_{target}")
                    script_callbacks.after_component_callback(button,
                                                              elem_id=f"{tab}_send_to_{target}")
        interfaces.append((blocks, tab, tab))
    interfaces += script_callbacks.ui_tabs_callback()
    with gr.Blocks(analytics_enabled=False) as page:
        with gr.Tabs(elem_id="tabs"):
            for blocks, title, tab_id in interfaces:
                with gr.Tab(title, elem_id=f"tab_{tab_id}"):
                    blocks.render()
        infotext_utils.connect_paste_params_buttons()
    return page
