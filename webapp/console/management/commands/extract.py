"""faceproof extract INPUT -o OUTDIR: find, align and save the faces of a video or a folder of images."""

import getpass

from provenance.operation import Custody
from swapcore.extract import LANDMARKER, extract
from swapcore.faces import landmarks
from webapp.console.base import StageCommand
from webapp.console.progress import progress_bar
from webapp.custody.logs import custody_log


class Command(StageCommand):
    help = "Detect, align and save every face of a video, an image or a folder of images."

    def add_arguments(self, parser):
        parser.add_argument("input", help="video file, image, or folder of images")
        parser.add_argument("-o", "--output", required=True, help="output folder (faces/, alignments.json)")
        parser.add_argument("--every", type=int, default=1, help="use every Nth frame (6 is a good start)")
        parser.add_argument("--size", type=int, default=256, help="aligned crop size in pixels (64-512)")
        parser.add_argument("--centering", choices=["face", "head"], default="face")
        parser.add_argument("--landmarks", choices=landmarks.available(), default=LANDMARKER,
                            help=f"face landmarks stored beside the detector's 5 (default {LANDMARKER}: dlib's 68 "
                                 "points, whose training data is licensed for non-commercial use only; mtcnn5 keeps "
                                 "the 5 points alone, and 68-point masks then fall back to the hull)")
        parser.add_argument("--reference", help="image of the person to keep; other identities are set aside")
        parser.add_argument("--min-confidence", type=float, default=0.9, help="detector score to accept a face")
        parser.add_argument("--min-face", type=int, default=40, help="smallest face to look for, in pixels")
        parser.add_argument("--batch", type=int, default=1, help="frames per detector batch (larger helps on GPU)")
        parser.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when present)")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
        parser.add_argument("--actor", help="who is extracting, as the custody log names them (default: your user name)")

    def run(self, **o):
        with custody_log(writable=True) as log, progress_bar("extract") as progress:
            result = extract(
                o["input"], o["output"], every=o["every"], size=o["size"], centering=o["centering"],
                reference=o["reference"], landmarker=o["landmarks"], batch=o["batch"], device=o["device"],
                min_confidence=o["min_confidence"], min_face=o["min_face"], overwrite=o["overwrite"], progress=progress,
                custody=Custody(log, o["actor"] or getpass.getuser()),
            )
        self.stdout.write(
            f"{result.faces} faces in {result.frames_with_faces}/{result.frames} frames, "
            f"{result.tracks} track(s), kept {result.kept_tracks}; {result.frames_per_second:.1f} frames/s\n"
            f"alignments: {result.alignments_path}\ncontact sheet: {result.contact_sheet}"
        )
