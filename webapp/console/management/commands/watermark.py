"""faceproof watermark embed IN -o OUT --id N | faceproof watermark detect IN [--json]

`embed` writes an *unsigned intermediate*: deliverables are watermarked by the seal step, which also signs
them (C2PA) and records the ID in the registry. `detect` reads any clip, even re-encoded with its manifest
stripped, and looks a found ID up in this installation's registry.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import CommandError

from provenance.errors import ProvenanceError
from provenance.home import custody_db_path, keys_dir
from provenance.registry import WatermarkRegistry
from provenance.watermark import Detection, FrameEmbedder, detect_frames, load_or_create_watermark_key
from swapcore import media
from webapp.console.base import StageCommand

WATERMARK_KEY_NAME = "watermark.key"


def watermark_video(source: Path, target: Path, secret: bytes, payload_id: int) -> int:
    """Watermark every frame of `source` into `target` (H.264 CRF 18, audio kept); returns the frame count."""
    info = media.probe(source)
    embedder = FrameEmbedder(secret, payload_id)
    with media.VideoWriter(target, info.width, info.height, info.fps, audio_from=source) as writer:
        for _, frame in media.iter_frames(source, info=info):
            writer.write(embedder(frame))
    return writer.frames_written


def detect_video(source: Path, secret: bytes, max_frames: int | None) -> Detection:
    frames = (frame for _, frame in media.iter_frames(source, stop=max_frames))
    return detect_frames(frames, secret, max_frames=max_frames)


def _registry_record(watermark_id: int) -> dict | None:
    """What this installation recorded for the ID, when it has a registry (never creates one)."""
    database = custody_db_path()
    if not database.exists():
        return None
    entry = WatermarkRegistry(database).lookup(watermark_id)
    return entry.to_json() if entry else None


class Command(StageCommand):
    help = "Embed or detect the invisible faceproof watermark (32-bit ID) in a video."

    def add_arguments(self, parser):
        parser.add_argument("--key", help=f"watermark key file (default: $FACEPROOF_HOME/keys/{WATERMARK_KEY_NAME})")
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
        try:
            secret = load_or_create_watermark_key(Path(options["key"] or keys_dir() / WATERMARK_KEY_NAME))
            if options["action"] == "embed":
                self._embed(options["input"], options["output"], secret, options["payload_id"])
            else:
                self._detect(options["input"], secret, options["json"], options["max_frames"])
        except ProvenanceError as exc:
            raise CommandError(str(exc)) from exc

    def _embed(self, source: Path, target: Path, secret: bytes, payload_id: int) -> None:
        if target.resolve() == source.resolve():
            raise CommandError("the output must be a new file, not the input")
        frames = watermark_video(source, target, secret, payload_id)
        self.stdout.write(
            f"watermarked {frames} frames with ID {payload_id}: {target}\n"
            "this file is UNSIGNED and unregistered: seal it (C2PA + registry) before delivery"
        )

    def _detect(self, source: Path, secret: bytes, as_json: bool, max_frames: int | None) -> None:
        detection = detect_video(source, secret, max_frames)
        record = _registry_record(detection.watermark_id) if detection.watermark_id is not None else None
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
