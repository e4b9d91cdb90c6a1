"""The JSON documents faceproof writes and reads back (alignments, model.json, custody bundles): read one, and
check that it names its format and a version this code reads, each failure in the caller's own error class."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any


def read_json(path: Path, error: type[Exception]) -> Any:
    """The JSON value in `path`; `error` says, with the file's name, why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # a missing file, bad UTF-8 or bad JSON (both ValueErrors)
        raise error(f"{path.name}: not a readable JSON file ({exc})") from None


def read_document(path: Path, error: type[Exception], *, key: str, name: str, versions: Collection[int],
                  what: str) -> dict[str, Any]:
    """The JSON object in `path` whose `key` field is `name` and whose `version` is one of `versions`."""
    data = read_json(path, error)
    if not isinstance(data, dict) or data.get(key) != name:
        raise error(f"{path.name}: not {what}")
    if data.get("version") not in versions:
        raise error(f"{path.name}: {what} version {data.get('version')!r} is not supported")
    return data
