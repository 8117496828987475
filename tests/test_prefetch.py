"""The decode-ahead worker: order kept, memory bounded, errors raised where they are consumed,
and a consumer that stops early stops the producer and runs its clean-up at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sonic_ext.errors import Cancelled
from sonic_ext.prefetch import Overlap, prefetched


def test_items_come_in_order_and_at_most_depth_wait() -> None:
    made: list[int] = []
    ahead: list[int] = []
    taken = 0

    def make() -> Iterator[int]:
        for i in range(20):
            ahead.append(len(made) - taken)
            made.append(i)
            yield i

    got = []
    for item in prefetched(make, depth=2):
        got.append(item)
        taken += 1
    assert got == list(range(20))
    assert max(ahead) <= 2 + 1  # the queue's two, plus the one being handed over


def test_the_next_item_is_made_while_this_one_is_used() -> None:
    second_made = threading.Event()

    def make() -> Iterator[int]:
        yield 0
        second_made.set()
        yield 1

    items = prefetched(make, depth=1)
    assert next(items) == 0
    assert second_made.wait(5)  # made while the consumer still holds item 0
    assert list(items) == [1]
    inline = prefetched(make, depth=0)
    second_made.clear()
    assert next(inline) == 0 and not second_made.is_set()  # depth 0: nothing runs ahead
    inline.close()


def test_a_producer_error_is_raised_after_the_items_before_it() -> None:
    def make() -> Iterator[int]:
        yield 1
        yield 2
        raise Cancelled("cancelled from the UI")

    got = []
    with pytest.raises(Cancelled, match="cancelled from the UI"):
        for item in prefetched(make, depth=4):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_stops_the_producer_and_its_clean_up_runs() -> None:
    produced, cleaned = [], threading.Event()
    threads_before = threading.active_count()

    def make() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            cleaned.set()  # e.g. the models leaving the GPU

    overlap = Overlap()
    items = prefetched(make, depth=2, overlap=overlap)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # the encoder failed, say
    assert cleaned.is_set()  # at once, not when garbage is collected
    assert len(produced) <= 3 + 2 + 1
    assert threading.active_count() == threads_before
    assert overlap.wall_s > 0 and 0 <= overlap.fraction <= 1
