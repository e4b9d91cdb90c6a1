"""Stages on their own threads, joined by small bounded queues: the output is the same as running them in turn.

Decoding, the model, colour and blending, the watermark and encoding spend their time in ffmpeg, OpenCV, NumPy
and torch, which release the GIL, so on a machine with more than one core the stages overlap. `read_ahead`
produces a sequence on a worker thread ahead of its consumer; `write_behind` consumes items on a worker thread
behind their producer. Both hand an exception to the other side at the point where it happened, and stop their
worker when the other side stops early.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL = 0.1  # seconds between checks of the stop flag while a queue is full


def _put(handoff: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def read_ahead(items: Iterator[T], depth: int = 2, name: str = "faceproof-read-ahead") -> Iterator[T]:
    """`items` in order, produced on a worker thread up to `depth` items ahead of the consumer.

    An exception raised while producing is raised to the consumer at the same point of the sequence; a consumer
    that stops early stops the worker too (and closes `items` if it is a generator, stopping its decoder).
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(handoff, (item, None), stop):
                    return
            _put(handoff, (_DONE, None), stop)
        except BaseException as error:  # handed to the consumer, which re-raises it
            _put(handoff, (_DONE, error), stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()


@contextmanager
def write_behind(consume: Callable[[T], None], depth: int = 2,
                 name: str = "faceproof-write-behind") -> Iterator[Callable[[T], None]]:
    """A `put(item)` that hands items to `consume`, called in order on a worker thread up to `depth` items behind.

    An exception raised by `consume` is raised by the next `put` or on leaving the block (later items are
    dropped); leaving the block waits until every item put was consumed. An exception inside the block stops the
    worker without consuming what is still queued.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        while True:
            item = handoff.get()
            if item is _DONE or stop.is_set():
                return
            try:
                consume(item)
            except BaseException as error:
                failure.append(error)
                stop.set()
                return

    def put(item: T) -> None:
        if failure:
            raise failure[0]
        if not _put(handoff, item, stop) and failure:
            raise failure[0]

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        yield put
    except BaseException:
        stop.set()
        _drain(handoff)
        worker.join()
        raise
    _put(handoff, _DONE, stop)
    worker.join()
    if failure:
        raise failure[0]


def _drain(handoff: queue.Queue) -> None:
    """Empties the queue so a worker blocked on `get` sees the stop flag at its next item."""
    try:
        while True:
            handoff.get_nowait()
    except queue.Empty:
        pass
    handoff.put_nowait(_DONE)
