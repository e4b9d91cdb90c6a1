"""Work in progress that a killed process leaves behind: named so it can be recognised, attributed and swept.

Every file an output passes through before it is sealed (the encoding, the encoder's partial file, the signed
copy before its rename, a PNG folder's staging, any file made by `replace_atomically`) carries its owner's token
in its name, `faceproof-work-` plus the machine (its host name's hash), its boot, the process ID and the process's
start time, and each seal session that writes into a folder leaves an operation record there
(`.<token>-<watermark id>.operation.json`: who, from what inputs, making what). A finished or aborted session removes its record. Whatever carries the token of a process that no longer
runs on this machine (the same PID started at another time is another process; another machine's work is
left to that machine, which may share the folder or the log) is a fragment of an interrupted operation:
`sweep` deletes it and logs one `abort` custody event per interrupted operation, with the operation's inputs, so
an auditor sees how every operation ended even when the process never could say. Every logged operation (a seal
session, an extraction, a training run) logs a `begin` naming its owner when it starts; the log's table of open
operations (`CustodyLog.open_operations`) holds those that nothing has ended yet, and a sweep with the log also ends
the begins of this machine's dead processes that left no record (killed before writing anything, or making no
sealed output). An operation is aborted once whichever way the sweep finds it, and never once its output was
delivered signed. What a sweep reads of the log is what is open and the events of the operations it aborts,
never the whole log.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from provenance.custody.log import AssetRef, CustodyLog, Event, sha256_file

PREFIX = "faceproof-work-"
_TOKEN = re.compile(rf"{PREFIX}(?P<machine>[0-9a-f]{{8}})-(?P<boot>[0-9a-f]{{8}})-(?P<pid>\d+)-(?P<start>\d+)")
RECORD_SUFFIX = ".operation.json"


@dataclass(frozen=True)
class Owner:
    machine: str  # a hash of the host name: folders and logs may be shared by several machines
    boot: str
    pid: int
    start: int  # the process's start time, in clock ticks after boot (/proc/PID/stat)

    @property
    def token(self) -> str:
        return f"{PREFIX}{self.machine}-{self.boot}-{self.pid}-{self.start}"

    def alive(self) -> bool:
        """Whether the process may still run: another machine's always may (only that machine can tell)."""
        if self.machine != _machine():
            return True
        return self.boot == _boot_id() and _start_time(self.pid) == self.start


@cache
def _machine() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]
    except OSError:  # not Linux: one boot as far as we can tell
        return "0" * 8


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in parentheses may hold spaces


def me() -> Owner:
    return process(os.getpid())


def process(pid: int) -> Owner:
    """The process `pid` as an owner of work (one that does not run gets start time 0: never alive)."""
    return Owner(_machine(), _boot_id(), pid, _start_time(pid) or 0)


def work_path(final: Path, stage: str, suffix: str | None = None) -> Path:
    """A hidden name beside `final` for one stage of making it (same file system, so finishing can rename it)."""
    suffix = final.suffix if suffix is None else suffix
    return final.with_name(f".{final.stem}.{stage}.{me().token}{suffix}")


def replace_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Make `path` whole or not at all: `write` fills this process's work file beside it, which then takes its
    place (a kill in between leaves a fragment that `sweep` attributes and deletes, never half a `path`)."""
    partial = work_path(path, "writing")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # <fcntl.h>, <linux/fs.h>


@cache
def _renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux, or a C library older than glibc 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux's renameat2 with RENAME_EXCHANGE), so that neither name is
    ever missing; False where the system or file system cannot, for the caller to fall back."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(first), None, str(second))


def owner_of(name: str) -> Owner | None:
    found = _TOKEN.search(name)
    return Owner(found["machine"], found["boot"], int(found["pid"]), int(found["start"])) if found else None


def begin_operation(folder: Path, number: int, actor: str, inputs: tuple[AssetRef, ...], making: str) -> Path:
    """Leave the record of one operation writing into `folder` (removed by `end_operation`)."""
    record = folder / f".{me().token}-{number}{RECORD_SUFFIX}"
    record.write_text(json.dumps({"actor": actor, "making": making,
                                  "inputs": [{"sha256": ref.sha256, "name": ref.name} for ref in inputs]}))
    return record


def end_operation(record: Path) -> None:
    record.unlink(missing_ok=True)


def sweep(folder: Path, log: CustodyLog | None) -> list[str]:
    """Delete the fragments that dead processes left in `folder` and log one `abort` per interrupted operation.

    Returns the names deleted. Work of processes still running is left alone. Without a `log` (a caller that
    cannot write to it), operation records stay for a sweep that can, and only the other fragments go."""
    if not folder.is_dir():
        return []
    dead = [path for path in folder.iterdir() if (owner := owner_of(path.name)) and not owner.alive()]
    if log is None:
        dead = [path for path in dead if not path.name.endswith(RECORD_SUFFIX) and not _holds_records(path)]
    inside = [child for path in dead if path.is_dir() and not path.is_symlink() for child in path.iterdir()]
    records = [path for path in (*dead, *inside) if path.name.endswith(RECORD_SUFFIX) and owner_of(path.name)]
    if log is not None:
        interrupted = [_abort_event(record) for record in records if not _delivered(record, folder, log)]
        _log_aborts(log, [*interrupted, *map(_begin_abort_event, _dead_begins(log))])
    for path in dead:
        _remove(path)
    return sorted(path.name for path in dead)


def _remove(path: Path) -> None:
    """Delete a dead process's file or folder; one another sweep removed first is gone all the same."""
    try:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    except FileNotFoundError:
        pass


def _holds_records(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and any(c.name.endswith(RECORD_SUFFIX) for c in path.iterdir())


def sweep_tree(root: Path, log: CustodyLog) -> list[str]:
    """`sweep` every folder under `root` that holds work of a dead process (what `faceproof serve` does at start
    over the web app's media, where jobs and uploads write)."""
    swept: list[str] = []
    for folder, subfolders, files in os.walk(root):
        if any(PREFIX in name for name in (*subfolders, *files)):
            gone = sweep(Path(folder), log)
            swept += [str(Path(folder, name).relative_to(root)) for name in gone]
            subfolders[:] = [name for name in subfolders if name not in gone]
    return swept


def _delivered(record: Path, folder: Path, log: CustodyLog) -> bool:
    """Whether the process died after its signed output was in place (only the clean-up was left undone)."""
    if record.parent != folder:  # inside a dead staging folder: that folder is never delivered
        return False
    watermark_id = _watermark_id(record)
    output = folder / _read_record(record).get("making", "")
    signed = {ref["sha256"] for event in log.events_of_operation(f"watermark:{watermark_id}")
              if event["kind"] == "sign" for ref in event["outputs"]}
    return bool(signed) and output.is_file() and sha256_file(output) in signed


def _log_aborts(log: CustodyLog, aborts: list[Event]) -> None:
    """Append the aborts of operations not yet aborted, one per operation, in one durable batch. What is already
    aborted is read under the log's write lock: two sweeps finding the same dead work (a web node and a worker
    starting together) log its abort once."""
    if _not_yet_aborted(log, aborts):  # read again under the lock, which an append of nothing would take in vain
        log.append_many(aborts, keep=lambda events: _not_yet_aborted(log, events))


def _not_yet_aborted(log: CustodyLog, aborts: Sequence[Event]) -> list[Event]:
    done: set[str] = set()
    new = []
    for event in aborts:
        operation = event.ends()
        if operation not in done and not any(e["kind"] == "abort" for e in log.events_of_operation(operation)):
            new.append(event)
        done.add(operation)
    return new


def _dead_begins(log: CustodyLog) -> list[dict]:
    return [event for event in log.open_operations()
            if (owner := owner_of(event["parameters"].get("owner", ""))) and not owner.alive()]


def _begin_abort_event(begin: dict) -> Event:
    owner, making = owner_of(begin["parameters"]["owner"]), begin["parameters"].get("title") or "its output"
    seal = {"watermark_id": begin["parameters"]["watermark_id"]} if "watermark_id" in begin["parameters"] else {}
    return Event(kind="abort", actor=begin["actor"], inputs=tuple(AssetRef(**ref) for ref in begin["inputs"]),
                 reason=f"interrupted: process {owner.pid} ended without finishing {making}",
                 parameters={**seal, "begin": begin["seq"]}, identities=tuple(begin["identities"]))


def _read_record(record: Path) -> dict:
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):  # a record cut short by the kill itself: the operation still ended
        return {}


def _watermark_id(record: Path) -> int:
    return int(record.name[: -len(RECORD_SUFFIX)].rsplit("-", 1)[1])


def _abort_event(record: Path) -> Event:
    owner, data = owner_of(record.name), _read_record(record)
    inputs = tuple(AssetRef(item["sha256"], item["name"]) for item in data.get("inputs", []))
    return Event(kind="abort", actor=str(data.get("actor", "unknown")), inputs=inputs,
                 reason=f"interrupted: process {owner.pid} ended without finishing {data.get('making', 'its output')}",
                 parameters={"swept": record.name, "watermark_id": _watermark_id(record)})

