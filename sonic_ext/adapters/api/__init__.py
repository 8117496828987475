"""The HTTP API under /sonic/v1, one router for the standalone app and the WebUI alike.

Import `router` / `auth` explicitly: this package's `users` module must stay importable without
FastAPI installed (the CLI parses `--api-auth` before any web package loads).
"""
