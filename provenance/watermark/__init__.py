"""Invisible, keyed video watermark: a 32-bit ID that survives re-encoding, scaling, cropping and mirroring.

    embedder = FrameEmbedder(secret, payload_id)      # one per video; frames in, frames out (BGR uint8)
    detection = detect_frames(frames, secret)         # Detection(present, p_value, watermark_id, ...)

Design, false-positive derivation and measured robustness: docs/watermark.md.
"""

from provenance.watermark.detect import ALPHA, ClipDetector, Detection, detect_frames
from provenance.watermark.embed import FrameEmbedder, embed_frame
from provenance.watermark.errors import WatermarkError
from provenance.watermark.keys import key_fingerprint, load_or_create_watermark_key

__all__ = [
    "ALPHA",
    "ClipDetector",
    "Detection",
    "FrameEmbedder",
    "WatermarkError",
    "detect_frames",
    "embed_frame",
    "key_fingerprint",
    "load_or_create_watermark_key",
]
