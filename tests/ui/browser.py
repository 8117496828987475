"""A real browser for UI tests: Debian's chromium driven headless by Playwright.

Playwright's own browser download cannot run here, so it drives the system chromium
(setup/test.sh installs it on Debian).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (setup/test.sh installs it on Debian)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()
