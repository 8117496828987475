"""Progress reporting and cooperative cancellation shared by every surface.

The service reports through a plain callback so that the CLI (a progress line), the API (job
state), the UI (gradio progress) and the WebUI (`shared.state`) each adapt it their own way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from .errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    """One report: `step` of `total` within `stage`; `eta_s` is None until it can be estimated."""

    stage: str
    step: int
    total: int
    message: str = ""
    elapsed_s: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "step": self.step,
            "total": self.total,
            "fraction": round(self.fraction, 4),
            "message": self.message,
            "elapsed_s": round(self.elapsed_s, 3),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
        }


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(_event: ProgressEvent) -> None:
    """The default callback for callers that do not watch progress."""


class StageTimer:
    """Builds events for one stage, estimating the ETA from the mean time per finished step."""

    def __init__(self, stage: str, total: int, callback: ProgressCallback,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stage = stage
        self.total = total
        self._callback = callback
        self._clock = clock
        self.started = clock()

    def report(self, step: int, message: str = "") -> None:
        elapsed = self._clock() - self.started
        eta = elapsed / step * (self.total - step) if 0 < step <= self.total else None
        self._callback(ProgressEvent(self.stage, step, self.total, message, elapsed, eta))


class CancelToken:
    """Set by whoever owns the job (API DELETE, UI button, WebUI interrupt); checked between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled by the user") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled")


Chunk = TypeVar("Chunk", bound=Sized)


def reported_chunks(chunks: Iterable[Chunk], timer: StageTimer, cancel: CancelToken
                    ) -> Iterator[Chunk]:
    """Pass frame chunks on, reporting the frames the consumer has taken so far and honouring
    a cancel between chunks (decode and encode take minutes for long clips)."""
    done = 0
    for chunk in chunks:
        cancel.raise_if_cancelled()
        yield chunk
        done += len(chunk)
        timer.report(min(done, timer.total))
    if done < timer.total:  # the last frame is held to the speech's length: complete
        timer.report(timer.total)


@contextmanager
def polled(action: Callable[[], object], every_s: float, name: str) -> Iterator[None]:
    """Run `action` every `every_s` in a thread while the block runs (what the block cannot
    report itself: a file growing, a host's Interrupt button); stopped and joined on exit."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every_s):
            action()

    poller = threading.Thread(target=poll, name=name, daemon=True)
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join()
