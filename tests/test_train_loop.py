"""The training loop on real faces: it learns, resumes exactly after a kill, saves and loads, heals itself;
it refuses identities without recorded consent, and its previews are sealed like any other output."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from provenance import manifest
from provenance.custody.log import sha256_file
from provenance.errors import ConsentError
from provenance.installation import Installation
from provenance.keys import KeyStore
from provenance.registry import WatermarkRegistry
from provenance.watermark import detect_frames, load_or_create_watermark_key
from swapcore import media
from swapcore.train import load_model
from swapcore.training import bundle, report
from swapcore.training.augment import face_mask
from swapcore.training.data import load_faces
from swapcore.training.trainer import Trainer, TrainingDivergedError
from tests.conftest import consenting_installation, record_consents, train_here

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.needs_data


def _rows(model_dir: Path) -> dict[int, dict]:
    return {row["iteration"]: row for row in report.read_metrics(model_dir)}


LEARN = {"arch": "lite", "batch": 4, "save_every": 20, "lr": 5e-4}  # a short run that still learns clearly


@pytest.fixture(scope="module")
def learned(training_faces, tmp_path_factory):
    """A short lite run: 40 iterations of 4 faces per identity, saved at 0, 20 and 40 (its installation: ../home)."""
    root = tmp_path_factory.mktemp("learned")
    model_dir = root / "model"
    with consenting_installation(root / "home", [folder.name for folder in training_faces]):
        summary = train_here(training_faces, model_dir, iterations=40, **LEARN)
    return model_dir, summary


def test_short_run_lowers_held_out_loss(learned):
    model_dir, summary = learned
    rows = _rows(model_dir)
    assert sorted(rows) == [0, 20, 40]
    assert summary.stop_reason == "iterations" and summary.iteration == 40
    for name, start in rows[0]["holdout_loss"].items():
        end = rows[40]["holdout_loss"][name]
        assert end < 0.85 * start, f"{name}: held-out loss {start:.4f} -> {end:.4f}"
        assert rows[40]["holdout_ssim"][name] > rows[0]["holdout_ssim"][name] + 0.05
    assert all(rows[40]["loss"][name] > 0 for name in rows[0]["holdout_loss"]) and rows[40]["eg_per_s"] > 0


def test_model_folder_describes_itself(learned, training_faces):
    model_dir, _ = learned
    description = json.loads((model_dir / bundle.MODEL_JSON).read_text())
    assert description["arch"] == "lite" and description["size"] == 64 and description["has_mask"] is False
    assert [i["name"] for i in description["identities"]] == [p.name for p in training_faces]
    assert all(len(i["data_sha256"]) == 64 for i in description["identities"])
    assert description["input"]["centering"] == "face"
    assert (model_dir / report.LOSS_CURVE).stat().st_size > 1000
    assert (model_dir / report.PREVIEWS / "preview_0000040.png").is_file()


def test_a_first_format_checkpoint_still_loads(tmp_path):
    import hashlib
    import io

    state = {"iteration": 7, "model": {"w": torch.arange(6.0)}, "optimizer": {"state": {}, "param_groups": []}}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    old = tmp_path / bundle.CHECKPOINT
    old.write_bytes(b"FACEPROOF-CKPT1\n" + hashlib.sha256(payload).digest() + payload)
    loaded = bundle.read_checkpoint(old, training=False)
    assert loaded["iteration"] == 7 and torch.equal(loaded["model"]["w"], torch.arange(6.0))
    bundle.save_checkpoint(tmp_path, state)  # rewritten in the current format, the old one kept as the backup
    assert set(bundle.read_checkpoint(old)) == set(state)
    assert set(bundle.read_checkpoint(old, training=False)) == {"iteration", "model"}
    assert bundle.read_checkpoint(tmp_path / bundle.BACKUP)["iteration"] == 7
    old.write_bytes(old.read_bytes()[:-10])
    with pytest.raises(bundle.CheckpointError, match="truncated"):
        bundle.read_checkpoint(old)


def test_load_model_round_trip(learned, training_faces):
    model_dir, _ = learned
    loaded = load_model(model_dir)
    assert loaded.iteration == 40 and loaded.identity("B") == 1
    assert loaded.identity(training_faces[0].name) == 0
    state = bundle.read_checkpoint(model_dir / bundle.CHECKPOINT)["model"]
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, state[key]), key
    faces = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        rgb, mask = loaded.model(faces, 1)
    assert rgb.shape == (2, 3, 64, 64) and mask is None


def _train_in_subprocess(faces: list[Path], model_dir: Path, iterations: int, **options) -> subprocess.Popen:
    """`faceproof train` in a child process, with LEARN's settings unless `options` change them."""
    settings = {**LEARN, **options, "iterations": iterations}
    arguments = ["--faces", *map(str, faces), "--model", str(model_dir)]
    arguments += [text for name, value in settings.items() for text in (f"--{name.replace('_', '-')}", str(value))]
    return subprocess.Popen([sys.executable, "-c", "from webapp.cli import main; main()", "train", *arguments], cwd=REPO,
                            stderr=subprocess.PIPE, env={**os.environ, "TQDM_DISABLE": "1"})  # a bar would fill the pipe


def _each_run_ended_once(log) -> list[str]:
    """How each training run in the custody log ended (`train` or `abort`), each by exactly one event."""
    begins = [event for event in log.events_of_kind("begin") if event["parameters"].get("operation") == "train"]
    ends = [[e for e in log.events_of_operation(f"begin:{begin['seq']}") if e["kind"] != "begin"] for begin in begins]
    assert all(len(end) == 1 for end in ends) and log.open_operations() == [] and log.verify().ok
    return [end["kind"] for (end,) in ends]


def _wait_for_row(process: subprocess.Popen, model_dir: Path, at_least: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(i >= at_least for i in _rows(model_dir)):
        if process.poll() is not None:
            pytest.fail(f"training process ended early: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("training process made no checkpoint in time")
        time.sleep(0.05)


def test_resume_after_kill_continues_exactly(learned, training_faces, training_consent, tmp_path):
    """SIGKILL a real `faceproof train` after its save at 20; resuming sweeps, logs the killed run's abort, and
    reaches the uninterrupted run's state at 40."""
    reference, _ = learned
    killed = tmp_path / "killed"
    process = _train_in_subprocess(training_faces, killed, iterations=1000)
    _wait_for_row(process, killed, at_least=20)
    process.kill()  # SIGKILL: no chance to save
    process.wait()
    resumed = train_here(training_faces, killed, iterations=40, **LEARN)
    assert resumed.start_iteration in (20, 40) and resumed.iteration == 40
    got, want = _rows(killed)[40], _rows(reference)[40]
    for name, value in want["holdout_loss"].items():
        assert got["holdout_loss"][name] == pytest.approx(value, rel=1e-5)
        assert got["loss"][name] == pytest.approx(want["loss"][name], rel=1e-5)
    assert sorted(_rows(killed)) == [0, 20, 40]
    assert not [p.name for p in killed.rglob("*") if "faceproof-work-" in p.name]  # the restart swept the folder
    log = Installation.from_environment().custody_log()
    assert _each_run_ended_once(log) == ["abort", "train"]
    (abort,) = [e for e in log.events_of_kind("abort") if e["reason"].endswith("(killed/)")]
    assert abort["reason"].startswith(f"interrupted: process {process.pid} ")
    (trained,) = log.events_of_kind("train")
    assert trained["parameters"]["iteration"] == 40 and trained["outputs"][0]["name"] == "killed/checkpoint.pt"


_DIE_WRITING_THE_SECOND_CHECKPOINT = """
import os, signal
from swapcore.training import bundle
original, saves = bundle._fsync_write, []
def dying(path, chunks):
    saves.append(path)
    if len(saves) == 2:  # the save at iteration 20: its first bytes on disk, then a real kill
        with open(path, "wb") as handle:
            handle.write(bytes(chunks[0]))
        os.kill(os.getpid(), signal.SIGKILL)
    return original(path, chunks)
bundle._fsync_write = dying
"""


def test_the_main_checkpoint_is_never_missing_while_a_new_one_is_saved(tmp_path, monkeypatch):
    """Each rename of a save finds the main checkpoint in place: a kill between them cannot leave only a backup."""
    bundle.save_checkpoint(tmp_path, {"iteration": 1, "model": {}})
    seen, rename = [], os.replace

    def watched(source, target):
        seen.append((tmp_path / bundle.CHECKPOINT).is_file())
        rename(source, target)

    monkeypatch.setattr(os, "replace", watched)
    bundle.save_checkpoint(tmp_path, {"iteration": 2, "model": {}})
    assert seen and all(seen)
    assert bundle.read_checkpoint(tmp_path / bundle.CHECKPOINT)["iteration"] == 2
    assert bundle.read_checkpoint(tmp_path / bundle.BACKUP)["iteration"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [bundle.BACKUP, bundle.CHECKPOINT]


def test_a_kill_while_writing_a_checkpoint_resumes_from_the_one_before(learned, training_faces, training_consent,
                                                                       tmp_path):
    """The half-written checkpoint is the killed process's work file: swept, and the resume starts at 0 exactly."""
    reference, _ = learned
    killed = tmp_path / "killed"
    code = (_DIE_WRITING_THE_SECOND_CHECKPOINT + "from tests.conftest import train_here; "
            f"train_here({[str(p) for p in training_faces]!r}, {str(killed)!r}, iterations=40, **{LEARN!r})")
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    (fragment,) = [p.name for p in killed.iterdir() if "faceproof-work-" in p.name]
    assert fragment.startswith(".checkpoint.writing.")
    resumed = train_here(training_faces, killed, iterations=40, **LEARN)
    assert resumed.start_iteration == 0 and resumed.iteration == 40
    got, want = _rows(killed)[40], _rows(reference)[40]
    for name, value in want["holdout_loss"].items():
        assert got["holdout_loss"][name] == pytest.approx(value, rel=1e-5)
    assert not [p.name for p in killed.rglob("*") if "faceproof-work-" in p.name]
    assert _each_run_ended_once(Installation.from_environment().custody_log()) == ["abort", "train"]


def test_sigterm_stops_cleanly_and_saves(training_faces, training_consent, tmp_path):
    model_dir = tmp_path / "model"
    process = _train_in_subprocess(training_faces, model_dir, iterations=100_000, save_every=100_000)
    _wait_for_row(process, model_dir, at_least=0)
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert _each_run_ended_once(Installation.from_environment().custody_log()) == ["train"]  # a clean stop is an end, not an abort
    last = max(_rows(model_dir))
    assert 0 < last < 100_000
    assert bundle.read_checkpoint(model_dir / bundle.CHECKPOINT)["iteration"] == last


def test_cli_trains_and_corrupt_checkpoint_falls_back_to_backup(training_faces, training_consent, tmp_path, caplog):
    model_dir = tmp_path / "model"
    faces = [str(p) for p in training_faces]
    call_command("train", faces=faces, model=str(model_dir), arch="lite", batch=2, iterations=3, save_every=2)
    assert bundle.read_checkpoint(model_dir / bundle.CHECKPOINT)["iteration"] == 3
    assert bundle.read_checkpoint(model_dir / bundle.BACKUP)["iteration"] == 2
    checkpoint = model_dir / bundle.CHECKPOINT
    pristine = checkpoint.read_bytes()
    data = bytearray(pristine)
    data[-100] ^= 0xFF  # in the training state (the optimizer's moments), which conversion does not read
    checkpoint.write_bytes(bytes(data))
    assert load_model(model_dir).iteration == 3
    with caplog.at_level(logging.WARNING, logger="swapcore.training"):
        assert bundle.load_checkpoint(model_dir, warn=logging.getLogger("swapcore.training").warning)["iteration"] == 2
    assert "corrupt" in caplog.text and "backup" in caplog.text  # resuming falls back to the backup
    data = bytearray(pristine)
    data[200] ^= 0xFF  # in the model's weights
    checkpoint.write_bytes(bytes(data))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="swapcore.training"):
        loaded = load_model(model_dir)
    assert loaded.iteration == 2
    assert "corrupt" in caplog.text and "backup" in caplog.text
    (model_dir / bundle.BACKUP).write_bytes(b"FACEPROOF-CKPT1\n" + b"\0" * 10)
    with pytest.raises(bundle.CheckpointError, match="backup"):
        load_model(model_dir)
    with pytest.raises(CommandError, match=r"holds a lite model \(size 64\), not original \(size 64\)"):
        call_command("train", faces=faces, model=str(model_dir), arch="original", iterations=1)


def test_nan_loss_rolls_back_and_halves_the_learning_rate(training_faces, training_consent, tmp_path, monkeypatch, caplog):
    original_losses = Trainer._identity_losses
    poisoned = {6}

    def sometimes_nan(self, batch):
        values = original_losses(self, batch)
        if self.iteration + 1 in poisoned:
            poisoned.discard(self.iteration + 1)
            return values * float("nan")
        return values

    monkeypatch.setattr(Trainer, "_identity_losses", sometimes_nan)
    with caplog.at_level(logging.WARNING, logger="swapcore.training"):
        summary = train_here(training_faces, tmp_path / "model", arch="lite", batch=2, iterations=8, save_every=4)
    assert summary.rollbacks == 1 and summary.iteration == 8
    assert "rolled back to the last save (iteration 4)" in caplog.text
    assert _rows(tmp_path / "model")[8]["lr"] == pytest.approx(2.5e-5)

    monkeypatch.setattr(Trainer, "_identity_losses", lambda self, batch: original_losses(self, batch) * float("nan"))
    with pytest.raises(TrainingDivergedError, match="lower --lr"):
        train_here(training_faces, tmp_path / "diverged", arch="lite", batch=2, iterations=8, save_every=4)


@pytest.mark.slow
def test_hires_learns_its_mask(training_faces, training_consent, tmp_path):
    """The 128 px model learns, and its mask channel marks the face (landmark hull) on held-out faces."""
    model_dir = tmp_path / "hires"
    train_here(training_faces, model_dir, arch="hires", batch=2, iterations=30, save_every=15, lr=5e-4)
    rows = _rows(model_dir)
    for name, start in rows[0]["holdout_loss"].items():
        assert rows[30]["holdout_loss"][name] < 0.9 * start
    loaded = load_model(model_dir)
    assert loaded.description["has_mask"] and loaded.model.size == 128
    faces = load_faces(training_faces[0], 128)
    held = faces.images[faces.holdout].float() / 255
    with torch.no_grad():
        _, mask = loaded.model(held, 0)
    hull = face_mask(faces.landmarks[faces.holdout], 128) > 0.5
    assert mask[hull].mean() > mask[~hull].mean() + 0.1


def test_plateau_and_time_limit_stop_cleanly(training_faces, training_consent, tmp_path):
    # A 99 % improvement per save is never reached: the second in-loop save counts as a plateau.
    summary = train_here(training_faces, tmp_path / "plateau", arch="lite", batch=2, iterations=1000, save_every=2,
                    plateau_patience=1, plateau_delta=0.99)
    assert (summary.stop_reason, summary.iteration) == ("plateau", 4)
    assert sorted(_rows(tmp_path / "plateau")) == [0, 2, 4]
    timed = train_here(training_faces, tmp_path / "timed", arch="lite", batch=2, iterations=1000, time_limit=0.0)
    assert (timed.stop_reason, timed.iteration) == ("time limit", 0)
    assert load_model(tmp_path / "timed").iteration == 0


def test_refuses_identities_without_consent_and_starts_once_recorded(training_faces, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "consent test")
    first, second = (folder.name for folder in training_faces)
    model_dir = tmp_path / "model"
    record_consents([first], tmp_path / "form.pdf")
    with pytest.raises(ConsentError, match=rf"no recorded consent for '{second}'.*faceproof consent record"):
        train_here(training_faces, model_dir, arch="lite", batch=2, iterations=2, save_every=2)
    assert not model_dir.exists()  # refused before anything was read or written
    with pytest.raises(CommandError, match=f"'{second}'") as refused:  # the CLI: one line, no traceback
        call_command("train", faces=[str(p) for p in training_faces], model=str(model_dir), arch="lite", iterations=2)
    assert "\n" not in str(refused.value)
    record_consents([second], tmp_path / "form.pdf")
    summary = train_here(training_faces, model_dir, arch="lite", batch=2, iterations=2, save_every=2, actor="trainer@test")
    assert summary.iteration == 2 and (model_dir / report.PREVIEWS / "preview_0000002.png").is_file()


def test_previews_are_signed_watermarked_and_registered(learned, training_faces, monkeypatch):
    model_dir, _ = learned
    monkeypatch.setenv("FACEPROOF_HOME", str(model_dir.parent / "home"))  # the installation that trained it
    registry = WatermarkRegistry(Installation.from_environment().custody_db_path)
    secret = load_or_create_watermark_key(Installation.from_environment().watermark_key_path)
    grid = model_dir / report.PREVIEWS / "preview_0000040.png"
    assert (model_dir / report.PREVIEWS / "latest.png").read_bytes() == grid.read_bytes()
    for path in (grid, model_dir / report.LOSS_CURVE):
        result = manifest.verify(path, trust_anchors_pem=Installation.from_environment().key_store().trust_anchors_pem())
        assert result.state == "Trusted", result.failures
        assert "iteration 40" in result.title
        detection = detect_frames([media.read_image(path)], secret)
        assert detection.present and detection.watermark_id is not None
        entry = registry.lookup(detection.watermark_id)
        assert entry is not None and entry.output_name == path.name
        assert entry.output_sha256 == sha256_file(path)
    assert not list(model_dir.rglob(".*"))  # no encoding or sealing leftovers


_RANK = """
import hashlib, sys
from pathlib import Path
from swapcore.training import trainer

original = trainer.Trainer.run

def run(self, progress=None):
    summary = original(self, progress)
    weights = b"".join(t.detach().cpu().numpy().tobytes() for t in self.model.state_dict().values())
    Path(sys.argv[1], f"rank{self.world.rank}.txt").write_text(f"{hashlib.sha256(weights).hexdigest()} {self.iteration}")
    return summary

trainer.Trainer.run = run
from provenance.installation import Installation
from swapcore.train import train
with Installation.from_environment().sealer() as sealer:
    train(sys.argv[3:], sys.argv[2], arch="lite", batch=2, iterations=4, save_every=2, actor="ddp@test", sealer=sealer)
"""


def test_two_torchrun_processes_train_one_model(training_faces, training_consent, tmp_path):
    """torchrun with two CPU processes (gloo): both replicas take the same steps and end with the same weights,
    which are the ones rank 0 alone wrote to the folder, with each save recorded once."""
    import hashlib
    import os
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model_dir, script = tmp_path / "model", tmp_path / "rank.py"
    script.write_text(_RANK)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), str(script), str(tmp_path), str(model_dir), *map(str, training_faces)],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    ranks = [(tmp_path / f"rank{rank}.txt").read_text().split() for rank in (0, 1)]
    assert ranks[0] == ranks[1] and ranks[0][1] == "4"
    saved = bundle.read_checkpoint(model_dir / bundle.CHECKPOINT)
    weights = b"".join(t.numpy().tobytes() for t in saved["model"].values())
    assert saved["iteration"] == 4 and hashlib.sha256(weights).hexdigest() == ranks[0][0]
    assert [row["iteration"] for row in report.read_metrics(model_dir)] == [0, 2, 4]
