"""What a sweep costs as the custody log grows: every command that writes sweeps before it starts.

    .venv/bin/python -m bench.sweep [--operations 50000 100000] [--open 5] [--repeats 5]

For each size, a fresh SQLite custody log holds that many finished seal operations (a `begin` and its `sign`,
two events each) and --open operations begun by a process that is gone. Timed: `CustodyLog.open_operations` and a sweep of
an empty folder with the log, which finds those dead operations and logs their aborts (the first sweep), then
finds nothing more to do (the sweeps after it, as at every later start).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody import open_store
from provenance.custody.log import AssetRef, CustodyLog, Event
from provenance.work import process, sweep

_BATCH = 5_000
_DEAD = process(2**22 + 1)  # a PID above Linux's default pid_max: never a running process


def _operations(count: int, first: int, owner: str) -> Iterator[list[Event]]:
    """begin + sign per operation, in batches of _BATCH events; without `sign` when `owner` is a dead process."""
    batch: list[Event] = []
    for number in range(first, first + count):
        source = AssetRef(f"{number:064x}", f"clip_{number}.mp4")
        batch.append(Event(kind="begin", actor="bench@studio", inputs=(source,), reason=f"making out_{number}.mp4",
                           parameters={"title": f"out_{number}.mp4", "kind": "video", "watermark_id": number,
                                       "owner": owner}))
        if owner != _DEAD.token:
            batch.append(Event(kind="sign", actor="bench@studio", outputs=(AssetRef(f"{number + 1:064x}", "o.mp4"),),
                               parameters={"watermark_id": number}))
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _seconds(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(operations: int, dead: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        log = CustodyLog(open_store(None, folder / "custody.sqlite3"), signing_key=ed25519.Ed25519PrivateKey.generate())
        for batch in _operations(operations, 0, "faceproof-work-finished"):
            log.append_many(batch)
        for batch in _operations(dead, operations, _DEAD.token):
            log.append_many(batch)
        (folder / "outputs").mkdir()
        figures = {"events": float(log.store.size()), "open_operations": _seconds(log.open_operations, repeats)}
        figures["first_sweep"] = _seconds(lambda: sweep(folder / "outputs", log), 1)
        figures["later_sweep"] = _seconds(lambda: sweep(folder / "outputs", log), repeats)
        assert len(log.events_of_kind("abort")) == dead and not log.open_operations()
        log.store.close()
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operations", type=int, nargs="+", default=[50_000, 100_000])
    parser.add_argument("--open", type=int, default=5, help="operations of a dead process, aborted by the first sweep")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    for count in options.operations:
        figures = measure(count, options.open, options.repeats)
        print(f"{int(figures['events']):>8} events: open_operations {figures['open_operations'] * 1000:8.3f} ms, "
              f"first sweep {figures['first_sweep'] * 1000:8.1f} ms, later sweeps {figures['later_sweep'] * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
