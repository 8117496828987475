"""Run one blocking service call in a thread while a gradio generator reports its progress.

A generator handler is the one way to stream progress that works the same under the gradio 3.41
and 4.x queues: it polls the latest ProgressEvent every half second and yields it to the page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ...progress import ProgressCallback, ProgressEvent

T = TypeVar("T")


class BackgroundCall(Generic[T]):
    """`work(progress)` runs in a daemon thread; `updates()` yields while it runs, `result()`
    returns its value or raises its exception in the caller's thread."""

    def __init__(self, work: Callable[[ProgressCallback], T], name: str = "sonic-ui") -> None:
        self.latest: ProgressEvent | None = None
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _record(self, event: ProgressEvent) -> None:
        self.latest = event

    def _run(self) -> None:
        try:
            self._value = self._work(self._record)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def updates(self, interval_s: float = 0.5) -> Iterator[ProgressEvent | None]:
        """Start the call, then yield the latest event every `interval_s` until it ends."""
        self._thread.start()
        while True:
            self._thread.join(interval_s)
            if not self._thread.is_alive():
                return
            yield self.latest

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
