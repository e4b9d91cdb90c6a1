"""Shared fixtures. Real test data lives outside the repository (../shared/data); tests skip without it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.custody_backends import custody_backend, postgres_backend, postgres_cluster  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parent.parent


def _shared(variable: str, folder: str) -> Path:
    return Path(os.environ.get(variable, REPO.parent / "shared" / folder))


SHARED_DATA = _shared("FACEPROOF_DATA", "data")


def shared_file(relative: str) -> Path:
    """A file from ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"test data {relative} not found under {SHARED_DATA} (set FACEPROOF_DATA)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own FACEPROOF_HOME: no test reads or writes the user's keys or logs."""
    monkeypatch.setenv("FACEPROOF_HOME", str(tmp_path_factory.mktemp("faceproof_home")))
    monkeypatch.delenv("FACEPROOF_CUSTODY_URL", raising=False)  # nor a custody database the user configured


# ---- training-stage fixtures ----------------------------------------------------------------------------
TRAINING_CLIPS = {  # identity -> (clip under faces/styletalk_source, frame step giving ~25 faces: cheap to extract)
    "andrew": ("andrew_clip_1.mp4", 30),
    "feifeili": ("feifeili_clip2_short.mp4", 18),
}


TRAINING_PASSPHRASE = "training tests"


def train_here(face_dirs, model_dir, **options):
    """`swapcore.train.train` sealed by the current $FACEPROOF_HOME's installation, as `faceproof train` does."""
    from provenance.installation import Installation
    from swapcore.train import train

    with Installation.from_environment().sealer() as sealer:
        return train(face_dirs, model_dir, sealer=sealer, **options)


def record_consents(names: Iterable[str], form: Path) -> None:
    """A consent for each identity in the current $FACEPROOF_HOME's custody log (keys are made on first use)."""
    from provenance.consent import record_consent
    from provenance.installation import Installation

    form.write_bytes(b"signed consent form")
    with Installation.from_environment().sealer() as sealer:
        for name in names:
            record_consent(sealer.log, identity=name, person=f"{name} (test)", document=form, actor="admin")


@contextmanager
def consenting_installation(home: Path, names: Iterable[str]) -> Iterator[Path]:
    """$FACEPROOF_HOME=home with consents for `names`: for module-scoped fixtures that train (they are set up
    before the per-test home exists)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEPROOF_HOME", str(home))
        patch.setenv("FACEPROOF_KEY_PASSPHRASE", TRAINING_PASSPHRASE)
        patch.delenv("FACEPROOF_CUSTODY_URL", raising=False)
        record_consents(names, home.parent / f"{home.name}-consent.pdf")
        yield home


@pytest.fixture
def training_consent(monkeypatch, tmp_path, training_faces) -> list[str]:
    """Consents for the training identities in this test's own installation: what `train` requires."""
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", TRAINING_PASSPHRASE)
    names = [folder.name for folder in training_faces]
    record_consents(names, tmp_path / "training-consent.pdf")
    return names


@pytest.fixture(scope="session")
def training_faces(tmp_path_factory) -> list[Path]:
    """Two identities' aligned 64 px faces (~25 each), extracted from real clips by `swapcore.extract`."""
    from swapcore.extract import extract

    root = tmp_path_factory.mktemp("training_faces")
    folders = []
    for name, (clip, every) in TRAINING_CLIPS.items():
        source = SHARED_DATA / "faces" / "styletalk_source" / clip
        if not source.exists():
            pytest.skip(f"test data faces/styletalk_source/{clip} not found under {SHARED_DATA} (set FACEPROOF_DATA)")
        extract(source, root / name, size=64, every=every)
        folders.append(root / name)
    return folders
