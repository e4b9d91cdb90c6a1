"""Work files of killed processes: recognised by their owner's token, swept, and each interruption logged once."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance.custody.log import AssetRef, CustodyLog, Event
from provenance.custody.store import SQLiteCustodyStore
from provenance.errors import ProvenanceError
from provenance.operation import Custody, logged_operation
from provenance.installation import Installation
from provenance.work import (
    RECORD_SUFFIX, exchange, me, owner_of, process, replace_atomically, sweep, sweep_tree,
)

_DIE_MID_WORK = """
import os, sys
from pathlib import Path
from provenance.custody.log import AssetRef
from provenance.work import begin_operation, work_path
folder = Path(sys.argv[1])
work_path(folder / "x.mp4", "encoding").write_bytes(b"unsigned")
begin_operation(folder, int(sys.argv[2]), "alice@studio", (AssetRef("ab" * 32, "target.mp4"),), "x.mp4")
os._exit(0)  # no clean-up, as under SIGKILL
"""


def _die_mid_work(folder: Path, watermark_id: int = 7) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", _DIE_MID_WORK, str(folder), str(watermark_id)], check=True,
                   cwd=Path(__file__).parent.parent)


def test_a_process_is_known_by_its_pid_and_start_time():
    mine = me()
    assert mine.alive() and owner_of(f".x.encoding.{mine.token}.mp4") == mine
    assert not replace(mine, start=mine.start + 1).alive()  # the same PID started at another time
    assert not replace(mine, boot="0" * 8).alive()  # this machine before it restarted
    assert replace(mine, machine="0" * 8, start=mine.start + 1).alive()  # only another machine can tell of its own
    assert owner_of("x.mp4") is None


def test_sweep_removes_dead_work_logs_one_abort_and_leaves_live_work(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "work tests")
    Installation.from_environment().keys()
    log = Installation.from_environment().custody_log(writable=True)
    outputs = tmp_path / "media" / "org_1" / "project_1" / "outputs"
    _die_mid_work(outputs)
    live = outputs / f".y.encoding.{me().token}.mp4"
    live.write_bytes(b"still being written")
    (outputs / "done.mp4").write_bytes(b"a delivered file")
    elsewhere = outputs / f".z.encoding.{replace(me(), machine='0' * 8, pid=1).token}.mp4"  # a worker sharing it
    elsewhere.write_bytes(b"another machine's work")

    assert len(sweep(outputs, None)) == 1  # without a log: the fragment goes, the record waits for a log
    assert [p.name for p in outputs.iterdir() if p.name.endswith(RECORD_SUFFIX)]
    swept = sweep_tree(tmp_path / "media", log)
    assert len(swept) == 1 and swept[0].startswith("org_1/project_1/outputs/")
    assert sorted(p.name for p in outputs.iterdir()) == sorted(["done.mp4", live.name, elsewhere.name])
    (abort,) = log.events_of_kind("abort")
    assert abort["actor"] == "alice@studio" and abort["inputs"][0]["name"] == "target.mp4"
    assert abort["reason"].startswith("interrupted: process") and abort["parameters"]["watermark_id"] == 7
    assert sweep_tree(tmp_path / "media", log) == [] and len(log.events_of_kind("abort")) == 1
    assert log.verify().ok and log.open_operations() == []


def test_two_sweeps_at_once_log_one_abort(tmp_path, monkeypatch):
    """A web node and a worker starting together find the same dead work: the abort is logged once."""
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "work tests")
    Installation.from_environment().keys()
    outputs = tmp_path / "outputs"
    for round_ in range(3):
        _die_mid_work(outputs / str(round_), watermark_id=100 + round_)
        logs = [Installation.from_environment().custody_log(writable=True) for _ in range(2)]
        start = threading.Barrier(2)

        def swept(log):
            start.wait()
            return sweep(outputs / str(round_), log)

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(swept, logs))
        assert len(set().union(*results)) == 2  # the fragment and the record, removed by one sweep or the other
        assert not any((outputs / str(round_)).iterdir())
        assert len(logs[0].events_of_kind("abort")) == round_ + 1  # one more each round: aborted once
        assert logs[1].verify().ok


def test_a_sweep_reads_what_is_open_not_the_whole_log(tmp_path):
    """300 finished seal sessions and one of a dead process: the sweep reads a few entries, and no whole kind."""
    log = CustodyLog(SQLiteCustodyStore(tmp_path / "custody.sqlite3"), signing_key=Ed25519PrivateKey.generate())
    dead = process(2**22 + 1).token  # above Linux's largest PID: never a running process
    for first in range(0, 300, 100):
        log.append_many([Event(kind=kind, actor="a", parameters={"watermark_id": n, "owner": "faceproof-work-done"})
                         for n in range(first, first + 100) for kind in ("begin", "sign")])
    begun = log.append(Event(kind="begin", actor="a", parameters={"watermark_id": 300, "owner": dead}))
    read, looked_up = [], []
    entry, lookup = log.entry, log.store.lookup
    log.entry = lambda seq: read.append(seq) or entry(seq)
    log.store.lookup = lambda key: looked_up.append(key) or lookup(key)

    sweep(tmp_path, log)
    assert len(read) < 5 and set(read) == {begun.seq} and not [key for key in looked_up if key.startswith("kind:")]
    (abort,) = [log.entry(seq) for seq in lookup("kind:abort")]
    assert abort["parameters"] == {"watermark_id": 300, "begin": begun.seq} and log.open_operations() == []


def test_an_operation_ends_once_in_its_own_event_or_an_abort(tmp_path):
    log = CustodyLog(SQLiteCustodyStore(tmp_path / "custody.sqlite3"), signing_key=Ed25519PrivateKey.generate())
    custody, source = Custody(log, "alice@studio", ("alice",)), AssetRef("ab" * 32, "clip.mp4")
    with logged_operation(custody, "extract", [source], "the faces of clip.mp4") as extraction:
        extraction.end(parameters={"faces": 3})
    with pytest.raises(KeyError), logged_operation(custody, "train", [source], "the model m"):
        raise KeyError("no such face")
    with pytest.raises(ProvenanceError, match="without ending"), logged_operation(custody, "train", [source], "m"):
        pass
    with logged_operation(None, "extract", [source], "nothing logged") as unlogged:
        assert unlogged is None
    history = log.history(source.sha256)
    assert [e["kind"] for e in history] == ["ingest", "begin", "extract", "begin", "abort", "begin", "abort"]
    assert history[2]["parameters"] == {"faces": 3, "begin": history[1]["seq"]} and history[2]["identities"] == ["alice"]
    assert history[4]["reason"] == "stopped by KeyError: 'no such face'"
    assert history[6]["reason"] == "its code returned without logging its end"
    assert history[3]["parameters"]["operation"] == "train" and owner_of(history[3]["parameters"]["owner"]) == me()
    assert log.open_operations() == [] and log.verify().ok


_KILLED_EXTRACTING = """
import os, signal, sys
from swapcore import media
def killed(path, image):
    os.kill(os.getpid(), signal.SIGKILL)  # the first face crop: the staging folder exists, the output does not
media.write_image = killed
from webapp.cli import main
main(["extract", sys.argv[1], "-o", sys.argv[2], "--size", "64", "--actor", "killed@studio"])
"""


def test_a_killed_extraction_is_swept_and_aborted_once_by_the_next(tmp_path, monkeypatch, capsys):
    """`faceproof extract` killed mid-way leaves a staging folder and an open begin: the next extraction into
    that folder removes the one and logs one abort for the other, and its own run ends in `extract`."""
    from django.core.management import call_command

    from tests.conftest import shared_file

    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "work tests")
    source = shared_file("images/astronaut.png")
    child = subprocess.run([sys.executable, "-c", _KILLED_EXTRACTING, str(source), str(tmp_path / "faces")],
                           cwd=Path(__file__).parent.parent)
    assert child.returncode == -9
    (staging,) = [p for p in tmp_path.iterdir() if "faceproof-work-" in p.name]
    log = Installation.from_environment().custody_log()
    (killed,) = log.open_operations()
    assert killed["parameters"]["operation"] == "extract" and killed["actor"] == "killed@studio"
    assert [e["kind"] for e in log.history(killed["inputs"][0]["sha256"])] == ["ingest", "begin"]
    call_command("custody", "log", "--open")
    assert "(extract; process" in capsys.readouterr().out

    call_command("extract", str(source), "-o", str(tmp_path / "faces"), "--size", "64")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"] and not staging.exists()
    assert not [p.name for p in (tmp_path / "faces").rglob("*") if "faceproof-work-" in p.name or ".tmp" in p.name]
    history = log.history(killed["inputs"][0]["sha256"])
    assert [e["kind"] for e in history] == ["ingest", "begin", "abort", "begin", "extract"]
    abort, rerun, extracted = history[2:]
    assert abort["parameters"] == {"begin": killed["seq"]} and abort["actor"] == "killed@studio"
    pid = owner_of(killed["parameters"]["owner"]).pid
    assert abort["reason"] == f"interrupted: process {pid} ended without finishing the faces of astronaut.png"
    assert extracted["parameters"]["begin"] == rerun["seq"] and extracted["outputs"][0]["name"] == "faces/alignments.json"
    assert log.open_operations() == [] and log.verify().ok


_KILLED_AFTER_BEGIN = """
import os, signal, sys
from pathlib import Path
from provenance.installation import Installation
from provenance.seal import SealRequest
sealer = Installation.from_environment().sealer()
sealer.begin(SealRequest(kind="video", title="x.mp4", actor="bob@studio", inputs=[Path(sys.argv[1])]))
os.kill(os.getpid(), signal.SIGKILL)  # before any work file or operation record exists
"""


def test_a_process_killed_between_begin_and_its_first_file_is_aborted_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "work tests")
    source = tmp_path / "target.mp4"
    source.write_bytes(b"a target clip")
    child = subprocess.Popen([sys.executable, "-c", _KILLED_AFTER_BEGIN, str(source)], cwd=Path(__file__).parent.parent)
    assert child.wait() == -9
    log = Installation.from_environment().custody_log(writable=True)
    (begun,) = log.open_operations()
    assert begun["actor"] == "bob@studio" and owner_of(begun["parameters"]["owner"]).pid == child.pid

    sweep(tmp_path, log)
    (abort,) = log.events_of_kind("abort")
    assert abort["actor"] == "bob@studio" and abort["inputs"] == begun["inputs"]
    assert abort["parameters"] == {"watermark_id": begun["parameters"]["watermark_id"], "begin": begun["seq"]}
    assert abort["reason"].startswith("interrupted: process") and abort["reason"].endswith("finishing x.mp4")
    sweep(tmp_path, log)
    assert len(log.events_of_kind("abort")) == 1 and log.open_operations() == [] and log.verify().ok


_KILLED_WRITING = """
import os, signal, sys
from pathlib import Path
from provenance.work import replace_atomically
def half_then_killed(partial):
    partial.write_text('{"faces": [')
    os.kill(os.getpid(), signal.SIGKILL)
replace_atomically(Path(sys.argv[1]), half_then_killed)
"""


def test_a_file_replaced_atomically_is_whole_or_the_old_one_and_a_killed_write_is_swept(tmp_path):
    target = tmp_path / "alignments.json"
    replace_atomically(target, lambda partial: partial.write_text("old"))
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITING, str(target)], cwd=Path(__file__).parent.parent)
    assert child.wait() == -9
    (partial,) = [p for p in tmp_path.iterdir() if p != target]
    assert owner_of(partial.name).pid == child.pid and partial.read_text() == '{"faces": ['
    assert target.read_text() == "old"
    assert sweep(tmp_path, None) == [partial.name] and [p.name for p in tmp_path.iterdir()] == ["alignments.json"]


def test_two_folders_are_exchanged_in_one_step(tmp_path):
    """What an extraction publishes with: the output's name always names a whole folder, old or new."""
    old, new = tmp_path / "faces", tmp_path / ".faces.partial"
    for folder, text in ((old, "old"), (new, "new")):
        folder.mkdir()
        (folder / "alignments.json").write_text(text)
    assert exchange(new, old)  # Linux with glibc >= 2.28, as here; elsewhere extraction falls back to two renames
    assert (old / "alignments.json").read_text() == "new" and (new / "alignments.json").read_text() == "old"
