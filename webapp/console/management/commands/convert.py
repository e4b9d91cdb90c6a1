"""`faceproof convert TARGET --model DIR -o OUT.mp4`: swap the faces of a video; the output is sealed."""

from __future__ import annotations

import torch

from swapcore.convert import BlendSettings, SwapSettings, convert, parse_frames
from swapcore.convert import color
from swapcore.convert.masks import KINDS
from webapp.console.base import StageCommand
from webapp.console.progress import progress_bar


class Command(StageCommand):
    help = (
        "Apply a trained model to a target video. Writes .mp4 (H.264, source audio kept), .gif, or a folder of "
        "PNG frames; every output is watermarked, C2PA-signed and logged, and both identities need consent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="the video whose face is replaced")
        parser.add_argument("--model", required=True, metavar="DIR", help="a model folder from `faceproof train`")
        parser.add_argument("-o", "--output", required=True, help="OUT.mp4, OUT.gif, or a folder for PNG frames")
        parser.add_argument("--direction", default="a2b", choices=("a2b", "b2a"),
                            help="a2b: the video shows A, render B (default); b2a the reverse")
        parser.add_argument("--color", default="reinhard", choices=color.available(), help="colour matching")
        parser.add_argument("--mask", default="auto", choices=("auto", *KINDS),
                            help="auto: learned+hull for models with a learned mask, else hull")
        parser.add_argument("--erode", type=float, default=0.0, help="shrink (<0: grow) the mask, %% of face size")
        parser.add_argument("--blur", type=float, default=4.0, help="feather the mask edge, %% of face size")
        parser.add_argument("--smooth", type=float, default=0.5, help="temporal smoothing 0 (off) to 1")
        parser.add_argument("--sharpen", type=float, default=0.0, help="unsharp-mask amount on the face (0 = off)")
        parser.add_argument("--scale", type=float, default=1.0, help="output scale factor")
        parser.add_argument("--frames", metavar="A:B", help="convert only frames A (inclusive) to B (exclusive)")
        parser.add_argument("--side-by-side", action="store_true", help="write original | swapped")
        parser.add_argument("--alignments", help="alignments.json from extracting this video (else detect now)")
        parser.add_argument("--track", type=int, help="which track of --alignments to swap (default 0)")
        parser.add_argument("--batch", type=int, default=16, help="faces per model call")
        parser.add_argument("--device", help="torch device, e.g. cpu or cuda")
        parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                            help="model arithmetic; auto uses bf16 where the hardware has it")
        parser.add_argument("--actor", help="who is producing this output (default: your user name)")
        parser.add_argument("--threads", type=int, help="CPU threads for torch (1 is faster on a busy machine)")

    def run(self, **o) -> None:
        if o["threads"]:
            torch.set_num_threads(o["threads"])  # this process is ours alone: a global setting is fine here
        settings = SwapSettings(
            direction=o["direction"], color=o["color"], mask=o["mask"], smooth=o["smooth"], track=o["track"],
            blend=BlendSettings(erode=o["erode"], blur=o["blur"], sharpen=o["sharpen"]),
            batch=o["batch"], device=o["device"], precision=o["precision"],
        )
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
