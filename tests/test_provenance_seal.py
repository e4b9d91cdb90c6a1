"""The seal seam end to end: watermark frames, encode (as convert does), sign, log, register; and every refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance import manifest
from provenance.consent import record_consent
from provenance.custody.bundle import export_bundle, verify_bundle
from provenance.custody.log import sha256_file, verify_custody_claim
from provenance.errors import ConsentError, CustodyError, ProvenanceError, UnsupportedFormatError
from provenance.keys import KeyStore
from provenance.installation import Installation
from provenance.seal import Sealer, SealRequest
from provenance.watermark import detect_frames
from swapcore import media
from tests.conftest import shared_file

pytestmark = pytest.mark.needs_data
FRAMES = 30
MODEL = {"arch": "original", "sha256": "9f" * 32}


@pytest.fixture
def sealer(monkeypatch, tmp_path) -> Sealer:
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "seal test")
    sealer = Installation.from_environment().sealer()
    form = tmp_path / "consent.pdf"
    form.write_bytes(b"signed consent form")
    record_consent(sealer.log, identity="alice", person="Alice Example", document=form, actor="admin")
    yield sealer
    sealer.close()


def _request(target: Path, **changes) -> SealRequest:
    fields = dict(kind="video", title="alice on d3", actor="editor@example", inputs=[target], parent=target,
                  model=MODEL, consents=["alice"], parameters={"crf": 18})
    fields.update(changes)
    return SealRequest(**fields)


def _encode(session, target: Path, path: Path) -> Path:
    """What conversion does: every frame through session.mark, then the caller's own encoder."""
    info = media.probe(target)
    with media.VideoWriter(path, info.width, info.height, info.fps, crf=18) as writer:
        for _, frame in media.iter_frames(target, stop=FRAMES):
            writer.write(session.mark(frame))
    return path


def test_sealed_video_is_trusted_marked_registered_and_logged(sealer, tmp_path):
    target = shared_file("video/d3.mp4")
    session = sealer.begin(_request(target))
    encoded = _encode(session, target, tmp_path / "encoded.mp4")
    result = session.finish(encoded, tmp_path / "alice.mp4")

    assert not encoded.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["alice.mp4", "consent.pdf"]
    anchors = Installation.from_environment().key_store().trust_anchors_pem()
    verified = manifest.verify(result.output, trust_anchors_pem=anchors)
    assert verified.state == "Trusted", verified.failures
    assert verified.soft_binding_ids == [str(session.watermark_id)]
    assert verified.custody["leaf_index"] == result.custody_seqs["watermark"]
    assert verified.consent["consents"][0]["person"] == "Alice Example"
    assert verified.ingredients[0]["title"] == "d3.mp4"
    assert verify_custody_claim(sealer.log, verified.custody).startswith("custody entries")
    with pytest.raises(CustodyError, match="root"):
        verify_custody_claim(sealer.log, {**verified.custody, "checkpoint_root": "00" * 32})

    detection = detect_frames((frame for _, frame in media.iter_frames(result.output)), sealer.watermark_secret)
    assert detection.present and detection.watermark_id == session.watermark_id
    entry = sealer.registry.lookup(detection.watermark_id)
    assert entry.output_sha256 == result.sha256 and entry.manifest_label == verified.manifest_label
    assert entry.custody_seq == result.custody_seqs["sign"]

    history = sealer.log.history(result.sha256)
    assert [event["kind"] for event in history] == ["sign"]
    encoded_hash = history[0]["inputs"][0]["sha256"]
    assert [e["kind"] for e in sealer.log.history(encoded_hash)] == ["convert", "watermark", "sign"]
    assert history[0]["inputs"][0]["name"] == "alice.mp4 (before signing)"  # never the temporary file's name
    assert sealer.log.verify().ok
    report = verify_bundle(export_bundle(sealer.log, tmp_path / "asset.json", sha256=result.sha256))
    assert report.ok


def test_image_seal_and_repeat_inputs_are_ingested_once(sealer, tmp_path):
    import cv2

    target = tmp_path / "target.png"
    cv2.imwrite(str(target), np.random.default_rng(1).integers(0, 255, (160, 192, 3), dtype=np.uint8))
    for name in ("a", "b"):
        session = sealer.begin(_request(target, kind="image", title=name))
        cv2.imwrite(str(tmp_path / f"{name}.enc.png"), session.mark(cv2.imread(str(target))))
        result = session.finish(tmp_path / f"{name}.enc.png", tmp_path / f"{name}.png")
        assert manifest.verify(result.output, trust_anchors_pem=Installation.from_environment().key_store().trust_anchors_pem()).state == "Trusted"
        kept = sealer.registry.manifest_of(result.watermark_id)  # for soft-binding resolution: the file's own store
        assert kept.manifest_label == result.manifest_label and kept.store in result.output.read_bytes()
    target_hash = sha256_file(target)
    [ingest] = sealer.log.events_of_kind("ingest")  # the target, once, though two outputs used it
    assert ingest["inputs"][0]["sha256"] == target_hash


def test_identity_without_consent_is_refused(sealer, tmp_path):
    target = shared_file("video/d3.mp4")
    with pytest.raises(ConsentError, match="'bob'"):
        sealer.begin(_request(target, consents=["alice", "bob"]))


def test_failed_seal_leaves_no_file_and_logs_the_abort(sealer, tmp_path):
    target = shared_file("video/d3.mp4")
    session = sealer.begin(_request(target))
    encoded = tmp_path / "encoded.mp4"
    encoded.write_bytes(b"watermarked frames, but not a valid mp4")
    session.mark(np.zeros((128, 128, 3), np.uint8))
    with pytest.raises(ProvenanceError):
        session.finish(encoded, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["consent.pdf"]
    [abort] = sealer.log.events_of_kind("abort")
    assert abort["parameters"]["watermark_id"] == session.watermark_id and "out.mp4" in abort["reason"]
    assert sealer.registry.lookup(session.watermark_id) is None
    with pytest.raises(ProvenanceError, match="already finished or aborted"):
        session.finish(encoded, tmp_path / "out.mp4")
    assert sealer.log.verify().ok


def test_unsignable_output_format_is_refused(sealer, tmp_path):
    session = sealer.begin(_request(shared_file("video/d3.mp4")))
    encoded = tmp_path / "encoded.webm"
    encoded.write_bytes(b"\x1aE\xdf\xa3")
    session.mark(np.zeros((128, 128, 3), np.uint8))
    with pytest.raises(UnsupportedFormatError):
        session.finish(encoded, tmp_path / "out.webm")
    assert not encoded.exists() and not (tmp_path / "out.webm").exists()


def test_unmarked_output_is_refused(sealer, tmp_path):
    session = sealer.begin(_request(shared_file("video/d3.mp4")))
    encoded = tmp_path / "encoded.mp4"
    encoded.write_bytes(b"x")
    with pytest.raises(ProvenanceError, match="must be a new file"):
        session.finish(encoded, encoded)
    assert encoded.exists()  # a caller's slip is refused before anything is touched
    with pytest.raises(ProvenanceError, match="no frame was watermarked"):
        session.finish(encoded, tmp_path / "out.mp4")
    assert not encoded.exists()


def test_context_manager_aborts_on_error(sealer):
    with pytest.raises(RuntimeError):
        with sealer.begin(_request(shared_file("video/d3.mp4"))) as session:
            raise RuntimeError("encoder crashed")
    [abort] = sealer.log.events_of_kind("abort")
    assert "encoder crashed" in abort["reason"] and abort["parameters"]["watermark_id"] == session.watermark_id
