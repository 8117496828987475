"""Like modules/ui.py, as far as extensions reach into it (the old paste-field aliases)."""

txt2img_paste_fields = []
img2img_paste_fields = []
