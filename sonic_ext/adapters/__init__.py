"""The surfaces: each turns its callers' input into calls of `SonicService` and its results
and errors into its own form, and holds no business rule of its own.

- `cli`: `sonic-ext` / `python -m sonic_ext`;
- `app`: the standalone server (the UI and the API in one FastAPI app);
- `api/`: the `/sonic/v1` router (FastAPI), mounted by the app and by WebUI hosts;
- `jobs`: the API's job runner (queued generations, progress, persisted records);
- `ui/`: the gradio Blocks (the WebUI's "Sonic" tab and the app's page);
- `webui`, `webui_host`, `webui_memory`: the glue to AUTOMATIC1111 and Forge (callbacks,
  progress bar, Interrupt, queue lock, VRAM), entered from `scripts/sonic_tab.py`.

The core (the package root and its stages) never imports from here.
"""
