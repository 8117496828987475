"""Like modules/ui_components.py: the small square buttons under a result gallery."""

from functools import wraps

import gradio as gr


class ToolButton(gr.Button):
    """A gr.Button with the "tool" class; the hosts' patched components take `tooltip`. Wrapped
    like gr.Button.__init__, so gradio 4 sees its arguments (elem_id...) as the hosts' does."""

    @wraps(gr.Button.__init__)
    def __init__(self, value="", *args, elem_classes=None, **kwargs):
        kwargs.pop("tooltip", None)
        super().__init__(value, *args, elem_classes=["tool", *(elem_classes or [])], **kwargs)

    def get_block_name(self):
        return "button"
