"""Provenance costs: C2PA sign + verify per 100 MB of mp4, custody append rate and full verification time.

    .venv/bin/python -m bench.provenance [--mb 100] [--events 1000000] [--batch 1000]
    .venv/bin/python -m bench.provenance --skip-c2pa --custody-url postgresql://user:pass@host/db

The mp4 is made here with ffmpeg (lossless H.264 test pattern, 720p, stopped at --mb megabytes) in a temporary
folder. Custody events look like real ones (kind, actor, input and output SHA-256, parameters) and are appended
in durable batches of --batch events, each batch ending in a signed checkpoint, as `CustodyLog.append_many` does.
With --custody-url the custody log is a PostgreSQL one, in a schema made for the run and dropped after it
(the database's own custody tables are never touched).
Targets: append >= 20,000 events/s; verify 1M events in < 30 s.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric import ed25519

from bench.machine import describe
from provenance import manifest
from provenance.custody import open_store
from provenance.custody.log import AssetRef, CustodyLog, Event
from provenance.keys import KeyStore
from swapcore import media

MB = 1_000_000


def make_mp4(path: Path, megabytes: int) -> Path:
    command = [
        media.ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi",
        "-i", "testsrc2=size=1280x720:rate=30", "-t", "600", "-fs", str(megabytes * MB),
        "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(path),
    ]
    subprocess.run(command, check=True)
    return path


def time_c2pa(folder: Path, megabytes: int, repeats: int) -> tuple[float, float, float]:
    """Median seconds to sign and to verify (Trusted), and the file's size in MB."""
    source = make_mp4(folder / "source.mp4", megabytes)
    keys = KeyStore(folder / "keys")
    keys.init("bench")
    identity, anchors = keys.signing_identity("bench"), keys.trust_anchors_pem()
    spec = manifest.ManifestSpec(title="bench.mp4", model={"arch": "original", "sha256": "0" * 64}, watermark_id=1,
                                 custody={"log_id": "0" * 64, "leaf_index": 0, "tree_size": 1, "checkpoint_root": "0" * 64})
    signs, verifies = [], []
    for attempt in range(repeats):
        signed = folder / f"signed{attempt}.mp4"
        started = time.perf_counter()
        manifest.sign(source, signed, identity, spec)
        signs.append(time.perf_counter() - started)
        started = time.perf_counter()
        state = manifest.verify(signed, trust_anchors_pem=anchors).state
        verifies.append(time.perf_counter() - started)
        if state != "Trusted":
            raise SystemExit(f"benchmark output verified as {state}, not Trusted")
        signed.unlink()
    return statistics.median(signs), statistics.median(verifies), source.stat().st_size / MB


def _events(count: int, batch: int) -> Iterator[list[Event]]:
    for start in range(0, count, batch):
        yield [
            Event(
                kind="convert", actor="bench@faceproof",
                inputs=(AssetRef(hashlib.sha256(b"in%d" % i).hexdigest(), "target.mp4"),),
                outputs=(AssetRef(hashlib.sha256(b"out%d" % i).hexdigest(), "swapped.mp4"),),
                parameters={"crf": 18, "frame": i},
            )
            for i in range(start, min(count, start + batch))
        ]


@dataclass(frozen=True)
class CustodyFigures:
    append_rate: float  # events/s, wall clock, event building excluded
    append_cpu_us: float  # this process's CPU time per appended event (what the machine's load does not inflate)
    single_rate: float  # durable one-event appends per second (an fsync each)
    verify_s: float
    verify_cpu_s: float
    ok: bool


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    """`url` with its search_path set to a new schema, dropped afterwards with everything in it."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def time_custody(folder: Path, count: int, batch: int, url: str | None = None) -> CustodyFigures:
    store = open_store(url, folder / "custody.sqlite3")
    log = CustodyLog(store, signing_key=ed25519.Ed25519PrivateKey.generate())
    appending = cpu = 0.0
    for events in _events(count, batch):
        started, started_cpu = time.perf_counter(), time.process_time()
        log.append_many(events)
        appending += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
    singles = next(_events(200, 200))
    started = time.perf_counter()
    for event in singles:
        log.append(event)
    single_rate = len(singles) / (time.perf_counter() - started)
    started, started_cpu = time.perf_counter(), time.process_time()
    report = log.verify()
    verifying, verifying_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    log.store.close()
    ok = report.ok and report.entries == count + len(singles)
    return CustodyFigures(count / appending, cpu / count * 1e6, single_rate, verifying, verifying_cpu, ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="size of the mp4 to sign (MB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per durable, checkpointed append")
    parser.add_argument("--custody-url", help="measure a PostgreSQL custody log (postgresql://...) instead of SQLite")
    parser.add_argument("--skip-c2pa", action="store_true", help="measure the custody log only")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    if not args.skip_c2pa:
        with tempfile.TemporaryDirectory() as work:
            sign, verify, size = time_c2pa(Path(work), args.mb, args.repeats)
            print(f"C2PA on a {size:.1f} MB mp4 (median of {args.repeats}): sign {sign:.2f} s, verify {verify:.2f} s "
                  f"= {sign * 100 / size:.2f} s / {verify * 100 / size:.2f} s per 100 MB")
        print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as work:
        if args.custody_url:
            print("custody store: PostgreSQL (server on the URL's host; its load adds to the figures)")
            with scratch_schema(args.custody_url) as url:
                figures = time_custody(Path(work), args.events, args.batch, url)
        else:
            figures = time_custody(Path(work), args.events, args.batch)
        print(f"custody: {args.events:,} events appended at {figures.append_rate:,.0f} events/s wall (batches of "
              f"{args.batch}, fsync + signed checkpoint per batch); CPU {figures.append_cpu_us:.1f} us/event "
              f"(= {1e6 / figures.append_cpu_us:,.0f} events/s of one core); single durable appends "
              f"{figures.single_rate:,.0f}/s")
        print(f"custody: full verification of {args.events + 200:,} events in {figures.verify_s:.1f} s wall, "
              f"{figures.verify_cpu_s:.1f} s CPU; log ok={figures.ok}")
    print(f"machine: {describe()}")


if __name__ == "__main__":
    main()
