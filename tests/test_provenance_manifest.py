"""C2PA signing and verification with the real c2pa Reader: mp4, PNG, JPEG, GIF; tampering; refused formats."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from provenance import manifest
from provenance.errors import ProvenanceError, UnsupportedFormatError
from provenance.keys import KeyStore
from provenance.manifest import COMPOSITE_AI, ManifestSpec
from tests.conftest import shared_file

PASS = "test passphrase"
LOG_ID = "5e" * 32


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("keys") / "keys")
    store.init(PASS)
    return store


def _spec(title: str, parent: Path | None = None) -> ManifestSpec:
    return ManifestSpec(
        title=title,
        parent=parent,
        model={"arch": "original", "sha256": "ab" * 32},
        watermark_id=305419896,
        custody={"log_id": LOG_ID, "leaf_index": 7, "tree_size": 9, "checkpoint_root": "cd" * 32},
        consents=[{"identity": "alice", "person": "Alice Example", "custody_seq": 2}],
    )


def _sign(keys: KeyStore, source: Path, destination: Path, parent: Path | None = None) -> Path:
    manifest.sign(source, destination, keys.signing_identity(PASS), _spec(destination.name, parent))
    return destination


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _mdat_middle(path: Path) -> int:
    """The middle byte of the mp4's media data box (walks the top-level boxes)."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        if kind == b"mdat":
            return offset + header + (size - header) // 2
        offset += size
    raise AssertionError("no mdat box")


@pytest.fixture(scope="module")
def signed_mp4(keys, tmp_path_factory) -> Path:
    source = shared_file("video/d0.mp4")
    return _sign(keys, source, tmp_path_factory.mktemp("mp4") / "swapped.mp4", parent=source)


def test_mp4_is_trusted_with_our_root(keys, signed_mp4):
    result = manifest.verify(signed_mp4, trust_anchors_pem=keys.trust_anchors_pem())
    assert result.state == "Trusted" and result.failures == []
    assert result.claim_generator.startswith("faceproof ") and result.title == "swapped.mp4"
    assert [a["action"] for a in result.actions] == ["c2pa.opened", "c2pa.edited", "c2pa.watermarked"]
    edited = result.actions[1]
    assert edited["digitalSourceType"] == COMPOSITE_AI and edited["softwareAgent"]["name"] == "faceproof model original"
    assert result.ingredients == [{"title": "d0.mp4", "format": "video/mp4", "relationship": "parentOf"}]
    assert result.ai_generated and result.soft_binding_ids == ["305419896"]
    assert result.custody["leaf_index"] == 7 and result.custody["log_id"] == LOG_ID
    assert result.consent["consents"][0]["identity"] == "alice" and "AI-generated" in result.consent["disclosure"]
    assert result.signer["common_name"].startswith("faceproof signer")


def test_mp4_without_our_root_is_valid_but_untrusted(signed_mp4):
    result = manifest.verify(signed_mp4)
    assert result.state == "Valid" and result.failures == ["signingCredential.untrusted"]


def test_flipped_media_byte_in_mp4_is_invalid(keys, signed_mp4, tmp_path):
    copy = shutil.copy(signed_mp4, tmp_path / "tampered.mp4")
    _flip(copy, _mdat_middle(copy))
    result = manifest.verify(copy, trust_anchors_pem=keys.trust_anchors_pem())
    assert result.state == "Invalid" and "assertion.bmffHash.mismatch" in result.failures


def test_edited_custody_assertion_is_invalid(keys, signed_mp4, tmp_path):
    data = signed_mp4.read_bytes()
    assert data.count(LOG_ID.encode()) == 1
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(data.replace(LOG_ID.encode(), ("5f" + LOG_ID[2:]).encode()))
    result = manifest.verify(tampered, trust_anchors_pem=keys.trust_anchors_pem())
    assert result.state == "Invalid" and "assertion.hashedURI.mismatch" in result.failures


def _image(path: Path) -> Path:
    rng = np.random.default_rng(5)
    picture = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 2)
    assert cv2.imwrite(str(path), picture)
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_images_sign_and_detect_tampering(keys, tmp_path, suffix):
    source = _image(tmp_path / f"frame{suffix}")
    signed = _sign(keys, source, tmp_path / f"signed{suffix}")
    assert manifest.verify(signed, trust_anchors_pem=keys.trust_anchors_pem()).state == "Trusted"
    assert manifest.verify(signed).state == "Valid"
    _flip(signed, signed.stat().st_size - 40)  # inside the pixel data, after the manifest
    result = manifest.verify(signed, trust_anchors_pem=keys.trust_anchors_pem())
    assert result.state == "Invalid" and "assertion.dataHash.mismatch" in result.failures


def test_gif_signs(keys, tmp_path):
    from PIL import Image

    source = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(source, save_all=True, append_images=frames[1:])
    signed = _sign(keys, source, tmp_path / "signed.gif")
    assert manifest.verify(signed, trust_anchors_pem=keys.trust_anchors_pem()).state == "Trusted"


@pytest.mark.parametrize("suffix", [".webm", ".mkv"])
def test_unsignable_formats_are_refused_and_nothing_is_written(keys, tmp_path, suffix):
    source = tmp_path / f"clip{suffix}"
    source.write_bytes(b"\x1aE\xdf\xa3 not really matroska")
    with pytest.raises(UnsupportedFormatError, match="write mp4 instead"):
        _sign(keys, source, tmp_path / f"out{suffix}")
    assert not (tmp_path / f"out{suffix}").exists()


def test_webm_parent_is_named_without_its_bytes(keys, tmp_path):
    parent = tmp_path / "target.webm"
    parent.write_bytes(b"\x1aE\xdf\xa3")
    signed = _sign(keys, _image(tmp_path / "frame.png"), tmp_path / "signed.png", parent=parent)
    result = manifest.verify(signed, trust_anchors_pem=keys.trust_anchors_pem())
    assert result.state == "Trusted" and result.ingredients[0]["title"] == "target.webm"


def test_unsigned_file_has_no_manifest_and_missing_file_is_an_error(tmp_path):
    assert manifest.verify(_image(tmp_path / "plain.png")).state == "NoManifest"
    with pytest.raises(ProvenanceError, match="no such file"):
        manifest.verify(tmp_path / "missing.png")


def test_failed_signing_leaves_no_destination(keys, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x08free not an mp4 at all")
    with pytest.raises(ProvenanceError, match="C2PA signing failed"):
        _sign(keys, broken, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
