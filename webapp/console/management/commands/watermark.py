"""faceproof watermark embed IN -o OUT --id N | faceproof watermark detect IN [--json]

`embed` writes an *unsigned intermediate*: deliverables are watermarked by the seal step, which also signs
them (C2PA) and records the ID in the registry. `detect` reads any clip, even re-encoded with its manifest
stripped, and looks a found ID up in this installation's registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import CommandError

from provenance.installation import Installation
from provenance.watermark import ClipDetector, Detection, FrameEmbedder, load_or_create_watermark_key
from swapcore import media
from webapp.console.base import StageCommand
from webapp.console.progress import progress_bar

Progress = Callable[[int, int], None]


def watermark_video(source: Path, target: Path, secret: bytes, payload_id: int, progress: Progress) -> int:
    """Watermark every frame of `source` into `target` (H.264 CRF 18, audio kept); returns the frame count."""
    info = media.probe(source)
    embedder = FrameEmbedder(secret, payload_id)
    with media.VideoWriter(target, info.width, info.height, info.fps, audio_from=source) as writer:
        for index, frame in media.iter_frames(source, info=info):
            writer.write(embedder(frame))
            progress(index + 1, info.frame_count)
    return writer.frames_written


def detect_video(source: Path, secret: bytes, max_frames: int | None, progress: Progress) -> Detection:
    info = media.probe(source)
    total = min(info.frame_count, max_frames) if max_frames else info.frame_count
    detector = ClipDetector(secret)
    for _, frame in media.iter_frames(source, stop=max_frames, info=info):
        detector.add(frame)
        progress(detector.frames_used, total)
    return detector.detect()


def _registry_record(installation: Installation, watermark_id: int) -> dict | None:
    """What the installation recorded for the ID, when it has a registry (never creates one)."""
    registry = installation.registry()
    if registry is None:
        return None
    try:
        entry = registry.lookup(watermark_id)
    finally:
        registry.close()
    return entry.to_json() if entry else None


class Command(StageCommand):
    help = "Embed or detect the invisible faceproof watermark (32-bit ID) in a video."

    def add_arguments(self, parser):
        parser.add_argument("--key", type=Path, help="watermark key file (default: the installation's own)")
        actions = parser.add_subparsers(dest="action", required=True)
        embed = actions.add_parser("embed", help="write a watermarked copy (unsigned: seal it before delivery)")
        embed.add_argument("input", type=Path)
        embed.add_argument("-o", "--output", type=Path, required=True)
        embed.add_argument("--id", type=int, required=True, dest="payload_id", help="watermark ID, 0..2^32-1")
        detect = actions.add_parser("detect", help="test a clip for this installation's watermark")
        detect.add_argument("input", type=Path)
        detect.add_argument("--json", action="store_true", help="print the detection as JSON")
        detect.add_argument("--max-frames", type=int, help="read at most this many frames (default: all)")

    def run(self, **options):
        key = options["key"] or self.installation.watermark_key_path
        if options["action"] == "embed":
            self._embed(options["input"], options["output"], load_or_create_watermark_key(key), options["payload_id"])
            return
        if not key.exists():  # a fresh random key would only ever answer "absent"
            raise CommandError(f"no watermark key at {key}: this installation has marked nothing yet (or pass --key)")
        self._detect(options["input"], load_or_create_watermark_key(key), options["json"], options["max_frames"])

    def _embed(self, source: Path, target: Path, secret: bytes, payload_id: int) -> None:
        if target.resolve() == source.resolve():
            raise CommandError("the output must be a new file, not the input")
        with progress_bar("watermark") as progress:
            frames = watermark_video(source, target, secret, payload_id, progress)
        self.stdout.write(
            f"watermarked {frames} frames with ID {payload_id}: {target}\n"
            "this file is UNSIGNED and unregistered: seal it (C2PA + registry) before delivery"
        )

    def _detect(self, source: Path, secret: bytes, as_json: bool, max_frames: int | None) -> None:
        with progress_bar("detect") as progress:
            detection = detect_video(source, secret, max_frames, progress)
        record = _registry_record(self.installation, detection.watermark_id) if detection.watermark_id is not None else None
        if as_json:
            self.stdout.write(json.dumps({"detection": json.loads(detection.to_json()), "registry": record}))
            return
        if not detection.present:
            self.stdout.write(f"no faceproof watermark (p = {detection.p_value:.3g}, {detection.frames_used} frames)")
            return
        found = f"ID {detection.watermark_id}" if detection.watermark_id is not None else "ID unreadable"
        self.stdout.write(
            f"faceproof watermark present (p = {detection.p_value:.3g}), {found}, "
            f"{detection.frames_used} frames, mirrored={detection.flipped}, scale={detection.scale}"
        )
        if detection.watermark_id is not None:
            self.stdout.write(f"registry: {json.dumps(record) if record else 'no record in this installation'}")
