"""Logging for the `sonic_ext` logger tree: a rotating file under SONIC_HOME/logs, optionally stderr.

Idempotent, because a WebUI's "Reload UI" re-runs our entry script: the handlers we add are
tagged and replaced, never stacked, and the host's root logger is left alone.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys

from .settings import Settings

LOGGER_NAME = "sonic_ext"
LOG_FILE_NAME = "sonic.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_TAG = "_sonic_ext_handler"


def configure_logging(settings: Settings, *, console: bool = False) -> logging.Logger:
    """Attach our handlers to the package logger; return it."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, _TAG, False)]:
        logger.removeHandler(handler)
        handler.close()

    file_handler = logging.handlers.RotatingFileHandler(
        settings.logs_dir / LOG_FILE_NAME, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handlers: list[logging.Handler] = [file_handler]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        setattr(handler, _TAG, True)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    logger.setLevel(settings.log_level)
    logger.propagate = settings.host == "webui"  # let a WebUI see our records in its console
    return logger
