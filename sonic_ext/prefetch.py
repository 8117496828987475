"""A generator run ahead in a worker thread: the next chunk of frames is decoded (VAE, RIFE: the
GPU's part of the tail) while this one is watermarked and encoded (the CPU's part).

At most `depth` chunks wait between the two, so memory stays bounded; order is kept; an error
in the producer (a pipeline failure, a cancel) is raised in the consumer as it was; and a
consumer that stops early (an encoder error, a cancel) stops the producer after the chunk it is
making, before the generator returns.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()
_PUT_WAIT_S = 0.1  # how often a blocked producer looks whether the consumer has gone


@dataclass
class Overlap:
    """Where the time went (for bench/tail.py): making items, using them, and the wall."""

    produce_s: float = 0.0
    consume_s: float = 0.0
    wall_s: float = 0.0

    @property
    def fraction(self) -> float:
        """The share of the shorter side hidden behind the other (0: none, 1: all)."""
        shorter = min(self.produce_s, self.consume_s)
        hidden = self.produce_s + self.consume_s - self.wall_s
        return max(0.0, min(1.0, hidden / shorter)) if shorter > 0 else 0.0


def prefetched(make: Callable[[], Iterable[T]], depth: int,
               overlap: Overlap | None = None) -> Iterator[T]:
    """The items of `make()`, made up to `depth` ahead in a worker thread (0: inline)."""
    overlap = overlap if overlap is not None else Overlap()
    started = time.monotonic()
    if depth <= 0:
        for item in _made(make(), overlap):
            began = time.monotonic()
            yield item
            overlap.consume_s += time.monotonic() - began
        overlap.wall_s = time.monotonic() - started
        return
    waiting: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=_PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        items: Iterator[T] | None = None
        try:
            items = iter(make())
            for item in _made(items, overlap):
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_END, exc))
        finally:  # a generator's own clean-up (models leaving the GPU) runs here, at once
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="sonic-decode-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = waiting.get()
            if error is not None:
                raise error
            if item is _END:
                return
            began = time.monotonic()
            yield item
            overlap.consume_s += time.monotonic() - began
    finally:
        stop.set()
        worker.join()
        overlap.wall_s = time.monotonic() - started


def _made(items: Iterator[T] | Iterable[T], overlap: Overlap) -> Iterator[T]:
    """`items`, the time spent making each added to `overlap.produce_s`."""
    iterator = iter(items)
    while True:
        began = time.monotonic()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            overlap.produce_s += time.monotonic() - began
        yield item
