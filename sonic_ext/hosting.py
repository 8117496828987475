"""What a host application may wrap around each generation.

The standalone app needs nothing. A WebUI must serialise GPU work with its own queue lock, show
our progress in its progress bar, turn its Interrupt button into our cancel, and free its own
models' memory first (research/webui.md §5, §7). The service calls the host once per
generation, around the GPU stages, whichever surface (UI, API job, CLI) asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from .progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress


class GenerationHost(Protocol):
    def generation(self, cancel: CancelToken) -> AbstractContextManager[ProgressCallback]:
        """Enter before the models run, leave after the output is published or abandoned;
        the yielded callback receives every progress event of the generation."""


class StandaloneHost:
    """No lock, no host progress bar: the service's own callers see everything."""

    @contextmanager
    def generation(self, cancel: CancelToken) -> Iterator[ProgressCallback]:
        yield ignore_progress


def tee(*callbacks: ProgressCallback) -> ProgressCallback:
    """One callback that reports to several."""
    def report(event: ProgressEvent) -> None:
        for callback in callbacks:
            callback(event)
    return report
