"""The model folder: `model.json` (what the model is), the checkpoint and its rolling backup.

Checkpoints are written atomically (temp file, fsync, rename) after the previous one is renamed to the backup,
so a crash at any moment leaves at least one complete checkpoint. Each file carries a SHA-256 of its payload:
a truncated or bit-flipped checkpoint is detected on load and the backup is used instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from swapcore.errors import SwapcoreError

MODEL_JSON = "model.json"
CHECKPOINT = "checkpoint.pt"
BACKUP = "checkpoint.backup.pt"
SCHEMA = "faceproof.model"
VERSION = 1
_MAGIC = b"FACEPROOF-CKPT1\n"
_HEADER = len(_MAGIC) + hashlib.sha256().digest_size


class ModelFolderError(SwapcoreError):
    """A model folder is missing, or its model.json is unreadable or does not match the request."""


class CheckpointError(SwapcoreError):
    """A checkpoint file is missing, truncated or corrupt."""


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False))
    os.replace(tmp, path)


def read_model_json(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MODEL_JSON
    if not path.is_file():
        raise ModelFolderError(f"{model_dir} is not a model folder (no {MODEL_JSON})")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ModelFolderError(f"{path} is not a faceproof model description")
    if data.get("version") != VERSION:
        raise ModelFolderError(f"{path}: model format version {data.get('version')!r} is not supported")
    return data


def _fsync_write(path: Path, chunks: list[bytes | memoryview]) -> None:
    with open(path, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def save_checkpoint(model_dir: Path, state: dict[str, Any]) -> Path:
    """Write `state` as the new checkpoint; the previous one becomes the backup."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    tmp = model_dir / f".{CHECKPOINT}.tmp"
    _fsync_write(tmp, [_MAGIC, hashlib.sha256(payload).digest(), payload])
    current = model_dir / CHECKPOINT
    if current.exists():
        os.replace(current, model_dir / BACKUP)
    os.replace(tmp, current)
    return current


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load and verify one checkpoint file. Tensors only (weights_only): the folder may come from anyone."""
    if not path.is_file():
        raise CheckpointError(f"{path.name}: missing")
    data = path.read_bytes()
    if len(data) < _HEADER or not data.startswith(_MAGIC):
        raise CheckpointError(f"{path.name}: not a faceproof checkpoint (truncated or overwritten)")
    payload = memoryview(data)[_HEADER:]
    if hashlib.sha256(payload).digest() != data[len(_MAGIC) : _HEADER]:
        raise CheckpointError(f"{path.name}: corrupt (its checksum does not match; truncated or damaged on disk)")
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable payloads; all mean the same here
        raise CheckpointError(f"{path.name}: unreadable ({exc})") from None


def load_checkpoint(
    model_dir: Path, device: torch.device | str = "cpu", warn: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """The newest readable checkpoint: the main one, or else the backup (saying why through `warn`)."""
    try:
        return read_checkpoint(model_dir / CHECKPOINT, device)
    except CheckpointError as main_error:
        if not (model_dir / BACKUP).is_file():
            raise CheckpointError(f"{model_dir}: {main_error} and there is no backup checkpoint") from None
        warn(f"{main_error}; using the backup checkpoint {BACKUP} instead")
        try:
            return read_checkpoint(model_dir / BACKUP, device)
        except CheckpointError as backup_error:
            raise CheckpointError(f"{model_dir}: {main_error}, and the backup too: {backup_error}") from None
