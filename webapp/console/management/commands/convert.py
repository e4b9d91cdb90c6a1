"""`faceproof convert TARGET --model DIR -o OUT.mp4`: swap the faces of a video; the output is sealed."""

from __future__ import annotations

import torch

from swapcore.convert import SwapSettings, convert, parse_frames
from swapcore.options import build
from webapp.console.base import StageCommand
from webapp.console.progress import progress_bar
from webapp.options import add_arguments


class Command(StageCommand):
    help = (
        "Apply a trained model to a target video. Writes .mp4 (H.264, source audio kept), .gif, or a folder of "
        "PNG frames; every output is watermarked, C2PA-signed and logged, and both identities need consent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="the video whose face is replaced")
        parser.add_argument("--model", required=True, metavar="DIR", help="a model folder from `faceproof train`")
        parser.add_argument("-o", "--output", required=True, help="OUT.mp4, OUT.gif, or a folder for PNG frames")
        add_arguments(parser, SwapSettings)
        parser.add_argument("--scale", type=float, default=1.0, help="output scale factor")
        parser.add_argument("--frames", metavar="A:B", help="convert only frames A (inclusive) to B (exclusive)")
        parser.add_argument("--side-by-side", action="store_true", help="write original | swapped")
        parser.add_argument("--alignments", help="alignments.json from extracting this video (else detect now)")
        parser.add_argument("--actor", help="who is producing this output (default: your user name)")
        parser.add_argument("--threads", type=int, help="CPU threads for torch (1 is faster on a busy machine)")

    def run(self, **o) -> None:
        if o["threads"]:
            torch.set_num_threads(o["threads"])  # this process is ours alone: a global setting is fine here
        settings = build(SwapSettings, o)
        with progress_bar("convert") as progress, self.installation.sealer() as sealer:
            result = convert(
                o["target"], o["model"], o["output"], settings=settings, frames=parse_frames(o["frames"]),
                alignments=o["alignments"], side_by_side=o["side_by_side"], scale=o["scale"], actor=o["actor"],
                sealer=sealer, progress=progress,
            )
        ids = ", ".join(str(sealed.watermark_id) for sealed in result.sealed[:3])
        more = f" (+{len(result.sealed) - 3} more)" if len(result.sealed) > 3 else ""
        self.stdout.write(
            f"{result.frames} frames ({result.frames_swapped} swapped) in {result.seconds:.1f} s, "
            f"{result.frames_per_second:.1f} frames/s\nsealed: {result.output} (watermark id {ids}{more})"
        )
