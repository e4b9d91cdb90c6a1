"""C2PA manifests (the `provenance.c2pa` surface): sign a finished file, and verify any file.

    label = sign(source, destination, identity, ManifestSpec(...))   # the very last step after encoding
    result = verify(path, trust_anchors_pem=keys.trust_anchors_pem())

Signing must come after every encode or remux: c2pa binds the manifest to the exact bytes (bmffHash for
mp4/mov, dataHash for images) and any later rewrite of the container strips or breaks it. Formats that
cannot carry a manifest (webm, mkv, ...) are refused, so an unsigned output is never produced.

This module is named `manifest`, not `c2pa`, so that it never shadows the c2pa library it wraps.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from provenance.custody.log import tool_version
from provenance.errors import ProvenanceError, UnsupportedFormatError
from provenance.keys import SigningIdentity

MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
COMPOSITE_AI = IPTC + "compositeWithTrainedAlgorithmicMedia"
AI_SOURCE_TYPES = {COMPOSITE_AI, IPTC + "trainedAlgorithmicMedia"}
SOFT_BINDING_ALG = "org.faceproof.watermark.v1"
CUSTODY_LABEL = "org.faceproof.custody"
CONSENT_LABEL = "org.faceproof.consent"
DISCLOSURE = (
    "AI-generated composite: one or more faces in this media were replaced by a trained face-swap model. "
    "The people whose faces were used are listed with the consent record for each."
)
TSA_TIMEOUT_S = 3.0
_PARENT_ID = "parent"


def mime_type(path: str | os.PathLike) -> str:
    """The MIME type c2pa signs `path` as, or UnsupportedFormatError (never a silent unsigned file)."""
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        supported = ", ".join(sorted({s.lstrip(".") for s in MIME_TYPES}))
        raise UnsupportedFormatError(
            f"{Path(path).name}: C2PA cannot be embedded in {suffix or 'files without an extension'}; "
            f"write mp4 instead (signable formats: {supported})"
        )
    return MIME_TYPES[suffix]


@dataclass(frozen=True)
class ManifestSpec:
    """What the manifest states about one output. `custody` and `consents` come from the custody log."""

    title: str
    parent: Path | None = None  # the target video/image: the c2pa.opened parentOf ingredient
    model: Mapping[str, str] | None = None  # {"arch": ..., "sha256": ...}: the c2pa.edited softwareAgent
    watermark_id: int | None = None  # c2pa.watermarked + c2pa.soft-binding
    custody: Mapping[str, Any] = field(default_factory=dict)  # log_id, leaf_index, tree_size, checkpoint_root
    consents: Sequence[Mapping[str, Any]] = ()  # one record per identity whose face was used
    ai_generated: bool = True


def _software_agent(model: Mapping[str, str] | None) -> dict[str, str]:
    if not model:
        return {"name": "faceproof", "version": tool_version().removeprefix("faceproof ")}
    return {"name": f"faceproof model {model['arch']}", "version": f"sha256:{model['sha256']}"}


def _actions(spec: ManifestSpec) -> list[dict[str, Any]]:
    opened: dict[str, Any] = {"action": "c2pa.opened"}
    if spec.parent is not None:
        opened["parameters"] = {"ingredientIds": [_PARENT_ID]}
    else:  # nothing opened from outside: the file was made here from the listed inputs
        opened = {"action": "c2pa.created", "digitalSourceType": COMPOSITE_AI if spec.ai_generated else IPTC + "digitalCapture"}
    actions = [opened]
    if spec.ai_generated:
        actions.append({
            "action": "c2pa.edited",
            "digitalSourceType": COMPOSITE_AI,
            "softwareAgent": _software_agent(spec.model),
            "description": "faces replaced by a trained face-swap model",
        })
    if spec.watermark_id is not None:
        actions.append({"action": "c2pa.watermarked", "parameters": {"alg": SOFT_BINDING_ALG}})
    return actions


def build_manifest(spec: ManifestSpec) -> dict[str, Any]:
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions.v2", "data": {"actions": _actions(spec)}}]
    if spec.watermark_id is not None:
        assertions.append({
            "label": "c2pa.soft-binding",
            "data": {"alg": SOFT_BINDING_ALG, "blocks": [{"scope": {}, "value": str(spec.watermark_id)}]},
        })
    if spec.custody:
        assertions.append({"label": CUSTODY_LABEL, "data": dict(spec.custody)})
    assertions.append({
        "label": CONSENT_LABEL,
        "data": {"ai_generated": spec.ai_generated, "disclosure": DISCLOSURE if spec.ai_generated else "",
                 "consents": [dict(c) for c in spec.consents]},
    })
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": "faceproof", "version": tool_version().removeprefix("faceproof ")}],
        "title": spec.title,
        "assertions": assertions,
    }
    parent = Path(spec.parent) if spec.parent is not None else None
    if parent is not None and parent.suffix.lower() not in MIME_TYPES:
        # A target c2pa cannot parse (webm, mkv) is still named as the parent, by title and format only.
        manifest["ingredients"] = [{"title": parent.name, "format": f"video/{parent.suffix.lstrip('.').lower()}",
                                    "relationship": "parentOf", "label": _PARENT_ID}]
    return manifest


def tsa_reachable(url: str | None) -> bool:
    """A TCP connection to the TSA opens within a few seconds (offline installations sign without one)."""
    if not url:
        return False
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=TSA_TIMEOUT_S):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Signed:
    manifest_label: str
    timestamped: bool
    manifest_store: bytes  # the embedded C2PA manifest store (JUMBF), kept for soft-binding resolution


def sign(
    source: str | os.PathLike, destination: str | os.PathLike, identity: SigningIdentity, spec: ManifestSpec
) -> Signed:
    """Embed a signed manifest in a copy of `source` written to `destination` (same format, last step)."""
    source, destination = Path(source), Path(destination)
    mime = mime_type(source)
    if mime_type(destination) != mime:
        raise UnsupportedFormatError(f"{destination.name}: signing cannot change the format of {source.name}")
    tsa = identity.tsa_url if tsa_reachable(identity.tsa_url) else None
    try:
        try:
            label, store = _sign_with(source, destination, identity, spec, mime, tsa)
        except c2pa.C2paError:
            if tsa is None:
                raise
            # A reachable TSA that answers badly must not block signing: the signature stands without a timestamp.
            tsa = None
            label, store = _sign_with(source, destination, identity, spec, mime, None)
    except BaseException as exc:
        destination.unlink(missing_ok=True)  # a half-written file would be an unsigned output
        if isinstance(exc, c2pa.C2paError):
            raise ProvenanceError(f"{source.name}: C2PA signing failed ({exc})") from None
        raise
    return Signed(label, tsa is not None, store)


def _sign_with(
    source: Path, destination: Path, identity: SigningIdentity, spec: ManifestSpec, mime: str, tsa: str | None
) -> tuple[str, bytes]:
    info = c2pa.C2paSignerInfo(identity.alg, identity.chain_pem, identity.private_key_pem(), tsa)
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(build_manifest(spec), context=context) as builder:
        if spec.parent is not None and Path(spec.parent).suffix.lower() in MIME_TYPES:
            _add_parent(builder, Path(spec.parent))
        with open(source, "rb") as src, open(destination, "w+b") as dst:
            store = builder.sign(signer, mime, src, dst)
            dst.flush()
            os.fsync(dst.fileno())
    return _active_label(destination), bytes(store)


def _add_parent(builder: c2pa.Builder, parent: Path) -> None:
    with open(parent, "rb") as stream:
        builder.add_ingredient(
            {"title": parent.name, "relationship": "parentOf", "label": _PARENT_ID}, MIME_TYPES[parent.suffix.lower()], stream
        )


def _active_label(path: Path) -> str:
    reader = c2pa.Reader.try_create(str(path))
    if reader is None:
        raise ProvenanceError(f"{path.name}: the signed file carries no manifest")
    with reader:
        return json.loads(reader.json())["active_manifest"]


# -- verification -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """What a reader needs to judge a file: Trusted / Valid / Invalid / NoManifest, and why."""

    path: str
    state: str
    failures: list[str]
    manifest_label: str | None = None
    title: str | None = None
    claim_generator: str | None = None
    signer: dict[str, str] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    ai_generated: bool = False
    ai_source_types: list[str] = field(default_factory=list)
    soft_binding_ids: list[str] = field(default_factory=list)
    custody: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _reader_context(trust_anchors_pem: bytes) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem.decode("ascii")}
    return c2pa.Context.from_dict(settings)


def verify(
    path: str | os.PathLike, *, trust_anchors_pem: bytes = b"", manifest_store: bytes | None = None
) -> VerifyResult:
    """Validate the embedded manifest of `path` against the given trust anchors (PEM roots); or, given a
    `manifest_store` (a sidecar, e.g. one fetched by soft-binding resolution), that store against the file."""
    path = Path(path)
    if not path.is_file():
        raise ProvenanceError(f"{path}: no such file")
    mime = mime_type(path)
    try:
        reader = _reader(path, mime, manifest_store, _reader_context(trust_anchors_pem))
    except c2pa.C2paError as exc:
        # A damaged or stripped manifest store is a finding about the file, not a failure to run.
        return VerifyResult(str(path), "Invalid", [f"manifest.unreadable: {exc}"])
    if reader is None:
        return VerifyResult(str(path), "NoManifest", [])
    with reader:
        state = str(reader.get_validation_state())
        report = json.loads(reader.json())
    return _result(path, state, report)


def _reader(path: Path, mime: str, manifest_store: bytes | None, context: c2pa.Context) -> c2pa.Reader | None:
    if manifest_store is None:
        return c2pa.Reader.try_create(str(path), context=context)
    with open(path, "rb") as stream:  # the reader has read what it needs once it is made
        return c2pa.Reader(mime, stream, manifest_data=manifest_store, context=context)


def _failure_codes(report: Mapping[str, Any]) -> list[str]:
    results = report.get("validation_results") or {}
    codes = [item["code"] for item in (results.get("activeManifest") or {}).get("failure", [])]
    for delta in results.get("ingredientDeltas") or []:
        codes += [f"ingredient:{item['code']}" for item in delta.get("validationDeltas", {}).get("failure", [])]
    if not results:
        codes += [item["code"] for item in report.get("validation_status") or []]
    return codes


def _assertion(manifest: Mapping[str, Any], label: str) -> Any:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == label:
            return assertion.get("data")
    return None


def _result(path: Path, state: str, report: Mapping[str, Any]) -> VerifyResult:
    label = report.get("active_manifest")
    manifest = (report.get("manifests") or {}).get(label) or {}
    actions = [
        {key: action[key] for key in ("action", "digitalSourceType", "softwareAgent", "description") if key in action}
        for action in (_assertion(manifest, "c2pa.actions.v2") or _assertion(manifest, "c2pa.actions") or {}).get("actions", [])
    ]
    source_types = sorted({a["digitalSourceType"] for a in actions if a.get("digitalSourceType") in AI_SOURCE_TYPES})
    soft_binding = _assertion(manifest, "c2pa.soft-binding") or {}
    generator = (manifest.get("claim_generator_info") or [{}])[0]
    signature = manifest.get("signature_info") or {}
    return VerifyResult(
        path=str(path),
        state=state,
        failures=_failure_codes(report),
        manifest_label=label,
        title=manifest.get("title"),
        claim_generator=" ".join(str(generator.get(k, "")) for k in ("name", "version")).strip() or None,
        signer={k: str(signature[k]) for k in ("common_name", "issuer", "alg", "time") if k in signature},
        actions=actions,
        ingredients=[
            {k: i.get(k) for k in ("title", "format", "relationship")} for i in manifest.get("ingredients", [])
        ],
        ai_generated=bool(source_types),
        ai_source_types=source_types,
        soft_binding_ids=[str(b.get("value")) for b in soft_binding.get("blocks", [])],
        custody=_assertion(manifest, CUSTODY_LABEL),
        consent=_assertion(manifest, CONSENT_LABEL),
    )
