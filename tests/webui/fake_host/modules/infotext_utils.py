"""Like modules/infotext_utils.py (A1111 1.10, Forge): the "Send to" buttons under a gallery.

A tab that accepts images registers its image input (`add_paste_fields`); a button bound to a
tab (`register_paste_params_button`) is connected when the whole UI is built
(`connect_paste_params_buttons`): its click runs the page's `extract_image_from_gallery` on the
source gallery, turns the picked item into a PIL image (`image_from_url_text`) for the tab's
image input, then calls the page's `switch_to_<tab>()`.
"""

import base64
import io
import sys

import gradio as gr
from PIL import Image

sys.modules["modules.generation_parameters_copypaste"] = sys.modules[__name__]  # the old name


class ParamBinding:
    def __init__(self, paste_button, tabname, source_text_component=None,
                 source_image_component=None, source_tabname=None,
                 override_settings_component=None, paste_field_names=None):
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component
        self.source_tabname = source_tabname
        self.override_settings_component = override_settings_component
        self.paste_field_names = paste_field_names or []


paste_fields = {}
registered_param_bindings = []


def reset():
    paste_fields.clear()
    registered_param_bindings.clear()


def image_from_url_text(filedata):
    """The picked gallery item: on gradio 4 (Forge) a preprocessed (image, caption) pair, whose
    image it returns as it is; on gradio 3 a served file {"name", "is_file"}, opened; or a
    base64 data URL."""
    if filedata is None:
        return None
    if isinstance(filedata, list):
        if not filedata:
            return None
        filedata = filedata[0]
    if isinstance(filedata, tuple) and len(filedata) == 2:
        return filedata[0]
    if isinstance(filedata, dict) and filedata.get("is_file", False):
        return Image.open(filedata["name"].rsplit("?", 1)[0])
    if isinstance(filedata, str):
        if filedata.startswith("data:image/png;base64,"):
            filedata = filedata[len("data:image/png;base64,"):]
        return Image.open(io.BytesIO(base64.decodebytes(filedata.encode("utf-8"))))
    return None


def add_paste_fields(tabname, init_img, fields, override_settings_component=None):
    paste_fields[tabname] = {"init_img": init_img, "fields": fields,
                             "override_settings_component": override_settings_component}
    import modules.ui  # noqa: F401 - as the host does, for its txt2img/img2img aliases


def register_paste_params_button(binding):
    registered_param_bindings.append(binding)


def _js(name):
    """The click's page-side function: `_js=` on gradio 3; Forge patches gradio 4 to take it,
    which plain gradio 4 spells `js=`."""
    return {"_js" if int(gr.__version__.split(".")[0]) < 4 else "js": name}


def connect_paste_params_buttons():
    for binding in registered_param_bindings:
        destination = paste_fields[binding.tabname]["init_img"]
        if binding.source_image_component is not None and destination is not None:
            gallery = isinstance(binding.source_image_component, gr.Gallery)
            binding.paste_button.click(
                fn=image_from_url_text if gallery else (lambda x: x),
                **_js("extract_image_from_gallery" if gallery else None),
                inputs=[binding.source_image_component], outputs=[destination])
        binding.paste_button.click(fn=None, **_js(f"switch_to_{binding.tabname}"), inputs=None,
                                   outputs=None)
