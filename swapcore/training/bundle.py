"""The model folder: `model.json` (what the model is), the checkpoint and its rolling backup.

Checkpoints are written atomically (temp file, fsync, rename) after the previous one is renamed to the backup,
so a crash at any moment leaves at least one complete checkpoint. A checkpoint holds two sections, each with
its length and SHA-256: the model (weights and iteration: what conversion needs, about a third of the file) and
the training state (the optimizer's moments, random generators, plateau tracking: what resuming needs), so a
conversion reads and verifies only the first. A truncated or bit-flipped section is detected on load and the
backup is used instead. Files of the first format (one payload, one SHA-256) still load.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from provenance.documents import read_document
from provenance.work import replace_atomically, work_path
from swapcore.errors import SwapcoreError

MODEL_JSON = "model.json"
CHECKPOINT = "checkpoint.pt"
BACKUP = "checkpoint.backup.pt"
SCHEMA = "faceproof.model"
VERSION = 1
_MAGIC_V1 = b"FACEPROOF-CKPT1\n"
_MAGIC = b"FACEPROOF-CKPT2\n"
_DIGEST = hashlib.sha256().digest_size
_HEADER_V1 = len(_MAGIC_V1) + _DIGEST
_LENGTH = 8  # bytes of a section's length (little-endian)
MODEL_KEYS = ("model", "iteration")  # the model section; every other key is training state


class ModelFolderError(SwapcoreError):
    """A model folder is missing, or its model.json is unreadable or does not match the request."""


class CheckpointError(SwapcoreError):
    """A checkpoint file is missing, truncated or corrupt."""


def write_json_atomic(path: Path, data: Any) -> None:
    replace_atomically(path, lambda partial: partial.write_text(json.dumps(data, indent=1, allow_nan=False)))


def read_model_json(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MODEL_JSON
    if not path.is_file():
        raise ModelFolderError(f"{model_dir} is not a model folder (no {MODEL_JSON})")
    return read_document(path, ModelFolderError, key="schema", name=SCHEMA, versions=(VERSION,),
                         what="a faceproof model description")


def _fsync_write(path: Path, chunks: list[bytes | memoryview]) -> None:
    with open(path, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def _section(state: dict[str, Any]) -> list[bytes | memoryview]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    return [len(payload).to_bytes(_LENGTH, "little"), hashlib.sha256(payload).digest(), payload]


def save_checkpoint(model_dir: Path, state: dict[str, Any]) -> Path:
    """Write `state` as the new checkpoint (model section, then training section); the previous one becomes the
    backup."""
    model = {key: state[key] for key in MODEL_KEYS}
    training = {key: value for key, value in state.items() if key not in MODEL_KEYS}
    tmp = work_path(model_dir / CHECKPOINT, "writing")  # a kill leaves it attributable: the next run sweeps it
    _fsync_write(tmp, [_MAGIC, *_section(model), *_section(training)])
    current = model_dir / CHECKPOINT
    if current.exists():  # the backup is made beside it, so a kill at any point leaves a main checkpoint in place
        replace_atomically(model_dir / BACKUP, lambda partial: _link_or_copy(current, partial))
    os.replace(tmp, current)
    return current


def _link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes the same file as `source`: a hard link, or a copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _load(path: Path, payload: bytes | memoryview, digest: bytes, device: torch.device | str) -> dict[str, Any]:
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path.name}: corrupt (its checksum does not match; truncated or damaged on disk)")
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable payloads; all mean the same here
        raise CheckpointError(f"{path.name}: unreadable ({exc})") from None


def _read_section(handle: BinaryIO, path: Path, device: torch.device | str) -> dict[str, Any]:
    head = handle.read(_LENGTH + _DIGEST)
    length = int.from_bytes(head[:_LENGTH], "little") if len(head) == _LENGTH + _DIGEST else -1
    payload = handle.read(length) if length >= 0 else b""
    if length < 0 or len(payload) != length:
        raise CheckpointError(f"{path.name}: truncated")
    return _load(path, payload, head[_LENGTH:], device)


def read_checkpoint(path: Path, device: torch.device | str = "cpu", *, training: bool = True) -> dict[str, Any]:
    """Load and verify one checkpoint file: the model section, and the training state unless `training` is
    False (conversion). Tensors only (weights_only): the folder may come from anyone."""
    if not path.is_file():
        raise CheckpointError(f"{path.name}: missing")
    with open(path, "rb") as handle:
        magic = handle.read(len(_MAGIC))
        if magic == _MAGIC_V1:
            data = magic + handle.read()
            return _load(path, memoryview(data)[_HEADER_V1:], data[len(_MAGIC_V1):_HEADER_V1], device)
        if magic != _MAGIC:
            raise CheckpointError(f"{path.name}: not a faceproof checkpoint (truncated or overwritten)")
        state = _read_section(handle, path, device)
        if training:
            state.update(_read_section(handle, path, device))
        return state


def load_checkpoint(
    model_dir: Path, device: torch.device | str = "cpu", warn: Callable[[str], None] = lambda _: None,
    *, training: bool = True,
) -> dict[str, Any]:
    """The newest readable checkpoint: the main one, or else the backup (saying why through `warn`); without the
    training state when `training` is False."""
    try:
        return read_checkpoint(model_dir / CHECKPOINT, device, training=training)
    except CheckpointError as main_error:
        if not (model_dir / BACKUP).is_file():
            raise CheckpointError(f"{model_dir}: {main_error} and there is no backup checkpoint") from None
        warn(f"{main_error}; using the backup checkpoint {BACKUP} instead")
        try:
            return read_checkpoint(model_dir / BACKUP, device, training=training)
        except CheckpointError as backup_error:
            raise CheckpointError(f"{model_dir}: {main_error}, and the backup too: {backup_error}") from None
