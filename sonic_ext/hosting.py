"""What a host application may wrap around each generation, and what its users set there.

The standalone app needs nothing. A WebUI must serialise GPU work with its own queue lock, show
our progress in its progress bar, turn its Interrupt button into our cancel, and free its own
models' memory first (research/webui.md §5, §7); it also keeps a copy of each video where its
users look for outputs, and has a Settings page for harmless options (never safety ones). The
service calls the host once per generation, around the GPU stages, whichever surface (UI, API
job, CLI) asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from .progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress

T = TypeVar("T")


class GenerationHost(Protocol):
    def generation(self, cancel: CancelToken) -> AbstractContextManager[ProgressCallback]:
        """Enter before the models run, leave after the output is published or abandoned;
        the yielded callback receives every progress event of the generation."""

    def published(self, out: Path) -> None:
        """After a signed output is published: the host's own use of it; never raises."""

    def preference(self, name: str, default: T) -> T:
        """A harmless option the host's users set (e.g. `history_size`), else `default`."""


class StandaloneHost:
    """No lock, no host progress bar, no options: the service's own callers see everything."""

    @contextmanager
    def generation(self, cancel: CancelToken) -> Iterator[ProgressCallback]:
        yield ignore_progress

    def published(self, out: Path) -> None:
        pass

    def preference(self, name: str, default: T) -> T:
        return default


def tee(*callbacks: ProgressCallback) -> ProgressCallback:
    """One callback that reports to several."""
    def report(event: ProgressEvent) -> None:
        for callback in callbacks:
            callback(event)
    return report
