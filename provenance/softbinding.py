"""C2PA Soft Binding Resolution for faceproof's watermark (algorithm `org.faceproof.watermark.v1`).

A file's manifest names its watermark in a `c2pa.soft-binding` assertion whose one block holds the watermark ID
in ASCII decimal. When a copy's manifest was stripped, whoever decodes the watermark asks which manifests carry
that soft binding (`matches`; the API sends the value base64-encoded, so the ID 305419896 is `MzA1NDE5ODk2`) and
then fetches the manifest store by its ID (`manifest_store`): the bytes the sealed file carried, which c2pa
reads as a sidecar of that file.

Watermark IDs are random 32-bit numbers, so an ID says nothing about any other; but 2^32 values can be walked,
so every lookup takes `visible`, the caller's rule for which IDs the asker may resolve (the web app's:
webapp/api/softbinding.py). An ID it refuses is answered exactly like one never issued.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from provenance.errors import ProvenanceError
from provenance.manifest import SOFT_BINDING_ALG
from provenance.registry import WATERMARK_ID_BITS, WatermarkRegistry

MANIFEST_MEDIA_TYPE = "application/c2pa"
SIMILARITY_EXACT = 100  # a decoded ID names its output or none: the BCH code and keyed check already decided
DEFAULT_MAX_RESULTS = 10
Visible = Callable[[int], bool]  # may the asker resolve this watermark ID?


class SoftBindingError(ProvenanceError):
    """A query this service cannot answer as asked (the resolution API's 400)."""


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    return {"watermarks": [{"alg": SOFT_BINDING_ALG}], "fingerprints": []}


def binding_value(watermark_id: int) -> str:
    """The query value of a watermark ID: base64 of the decimal the manifest's soft-binding block holds."""
    return base64.b64encode(str(watermark_id).encode("ascii")).decode("ascii")


def watermark_id_of(alg: str | None, value: str | None) -> int:
    """The watermark ID a query names; SoftBindingError for another algorithm or a value that is not one."""
    if alg != SOFT_BINDING_ALG:
        raise SoftBindingError(f"unsupported soft binding algorithm {alg!r}: this service resolves {SOFT_BINDING_ALG}")
    try:
        text = base64.b64decode(value or "", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not (text.isdigit() and len(text) <= 10 and int(text) < 1 << WATERMARK_ID_BITS):
        raise SoftBindingError(f"the value must be base64 of a watermark ID in decimal, 0 to 2^{WATERMARK_ID_BITS}-1")
    return int(text)


def max_results_of(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_MAX_RESULTS
    if not raw.isdigit() or int(raw) < 1:
        raise SoftBindingError("maxResults must be a whole number from 1")
    return int(raw)


def matches(
    registry: WatermarkRegistry | None, watermark_id: int, max_results: int, visible: Visible
) -> dict[str, list[dict[str, Any]]]:
    """The manifests carrying this watermark whose store is kept: at most one, since an ID is issued once."""
    kept = registry.manifest_of(watermark_id) if registry is not None and visible(watermark_id) else None
    found = [{"manifestId": kept.manifest_label, "similarityScore": SIMILARITY_EXACT}] if kept else []
    return {"matches": found[:max_results]}


def manifest_store(registry: WatermarkRegistry | None, manifest_id: str, visible: Visible) -> bytes | None:
    """The kept manifest store whose active manifest is `manifest_id`, when the asker may resolve its watermark."""
    kept = registry.manifest_labelled(manifest_id) if registry is not None else None
    return kept.store if kept is not None and visible(kept.watermark_id) else None
