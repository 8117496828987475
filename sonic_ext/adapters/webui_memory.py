"""Room on the GPU for Sonic: the WebUI's own models step aside for one generation.

A1111 keeps its SD checkpoint on the device; `sd_models.unload_model_weights(model)` moves it to
the CPU (what POST /sdapi/v1/unload-checkpoint does). Nothing in A1111 moves it back by itself,
so we return it afterwards with `sd_models.send_model_to_device` (what /sdapi/v1/reload-checkpoint
does); otherwise the next txt2img would find its model on the CPU. Forge's memory manager loads
models per job, so unloading them all is enough there (research/webui.md §6).

Freeing is a courtesy, not a condition: a failure is logged and the generation goes on.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

Restore = Callable[[], None]


def is_forge() -> bool:
    """Forge ships `modules_forge` next to `modules`; A1111 does not."""
    return importlib.util.find_spec("modules_forge") is not None


@contextmanager
def host_models_moved_aside() -> Iterator[None]:
    """Free the host's model memory on entry; on A1111, put the SD model back on exit."""
    restore = _free_forge() if is_forge() else _free_a1111()
    try:
        yield
    finally:
        restore()


def _nothing_to_restore() -> None:
    """Forge reloads its models itself; an A1111 without a loaded model has nothing to return."""


def _free_forge() -> Restore:
    try:
        from backend import memory_management

        memory_management.unload_all_models()
        memory_management.soft_empty_cache()
    except Exception:  # noqa: BLE001 - never fatal, see the module docstring
        log.warning("could not free Forge's model memory before Sonic; going on", exc_info=True)
    else:
        log.info("Forge's models unloaded for Sonic")
    return _nothing_to_restore


def _free_a1111() -> Restore:
    try:
        from modules import sd_models

        # Not `shared.sd_model`: that property loads a checkpoint when none was loaded yet.
        model: Any = sd_models.model_data.sd_model
        if model is None:
            return _nothing_to_restore
        sd_models.unload_model_weights(model)
    except Exception:  # noqa: BLE001 - never fatal, see the module docstring
        log.warning("could not move the SD model off the GPU before Sonic; going on",
                    exc_info=True)
        return _nothing_to_restore
    log.info("SD model moved to the CPU for Sonic")

    def restore() -> None:
        try:
            sd_models.send_model_to_device(model)
        except Exception:  # noqa: BLE001 - the user can still reload the checkpoint
            log.warning("could not move the SD model back to its device after Sonic; reload "
                        "the checkpoint in the WebUI", exc_info=True)

    return restore
