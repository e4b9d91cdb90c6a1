"""Stages on worker threads: the same output as running them in turn, errors where they happened, no thread left."""

from __future__ import annotations

import threading
import time

import pytest

from swapcore.pipelining import read_ahead, write_behind


def _alive(name: str) -> bool:
    return any(t.name == name for t in threading.enumerate())


def test_read_ahead_keeps_order_and_raises_a_producer_error_where_it_happened():
    def numbers():
        yield from range(5)
        raise ValueError("truncated at 5")

    seen = []
    with pytest.raises(ValueError, match="truncated at 5"):
        for n in read_ahead(numbers(), depth=2, name="test-ahead"):
            seen.append(n)
    assert seen == [0, 1, 2, 3, 4]
    assert not _alive("test-ahead")


def test_read_ahead_stops_its_worker_when_the_consumer_stops_early():
    produced, closed = [], []

    def endless():
        n = 0
        try:
            while True:
                produced.append(n)
                yield n
                n += 1
        finally:
            closed.append(True)  # where a decoder would stop its ffmpeg process

    ahead = read_ahead(endless(), depth=2, name="test-ahead-early")
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    assert _alive("test-ahead-early")
    ahead.close()
    assert not _alive("test-ahead-early")
    assert closed == [True]
    assert len(produced) <= 3 + 2 + 1  # what was taken, what was queued, and one put abandoned


def test_write_behind_consumes_everything_in_order_on_its_own_thread_before_the_block_ends():
    consumed, threads = [], set()

    def consume(item: int) -> None:
        time.sleep(0.002)  # slower than the producer: items queue up
        consumed.append(item)
        threads.add(threading.current_thread().name)

    with write_behind(consume, depth=3, name="test-behind") as put:
        for n in range(20):
            put(n)
    assert consumed == list(range(20)) and threads == {"test-behind"}
    assert not _alive("test-behind")


def test_write_behind_raises_a_consumer_error_to_the_producer_and_stops():
    consumed = []

    def consume(item: int) -> None:
        if item == 3:
            raise OSError("encoder pipe closed")
        consumed.append(item)

    with pytest.raises(OSError, match="encoder pipe closed"):
        with write_behind(consume, depth=2, name="test-behind-error") as put:
            for n in range(100):
                put(n)
    assert consumed == [0, 1, 2]  # nothing after the failure is consumed
    assert not _alive("test-behind-error")


def test_an_error_in_the_producer_stops_write_behind_without_consuming_the_rest():
    consumed, entered, release = [], threading.Event(), threading.Event()

    def consume(item: int) -> None:
        entered.set()
        release.wait(5)  # the first item is still being consumed when the producer fails
        consumed.append(item)

    threading.Timer(0.3, release.set).start()
    with pytest.raises(KeyError):
        with write_behind(consume, depth=4, name="test-behind-abort") as put:
            for n in range(4):
                put(n)
            assert entered.wait(5)
            raise KeyError("stop")
    assert not _alive("test-behind-abort")
    assert consumed == [0]  # the item in hand is finished; the queued ones are dropped
