"""faceproof extract INPUT -o OUTDIR: find, align and save the faces of a video or a folder of images."""

import getpass

from provenance.operation import Custody
from swapcore.extract import ExtractSettings, extract
from swapcore.options import build
from webapp.console.base import StageCommand
from webapp.console.progress import progress_bar
from webapp.options import add_arguments


class Command(StageCommand):
    help = "Detect, align and save every face of a video, an image or a folder of images."

    def add_arguments(self, parser):
        parser.add_argument("input", help="video file, image, or folder of images")
        parser.add_argument("-o", "--output", required=True, help="output folder (faces/, alignments.json)")
        parser.add_argument("--reference", help="image of the person to keep; other identities are set aside")
        add_arguments(parser, ExtractSettings)
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
        parser.add_argument("--actor", help="who is extracting, as the custody log names them (default: your user name)")

    def run(self, **o):
        with self.installation.opened_log(writable=True) as log, progress_bar("extract") as progress:
            result = extract(o["input"], o["output"], build(ExtractSettings, o), reference=o["reference"],
                             overwrite=o["overwrite"], progress=progress,
                             custody=Custody(log, o["actor"] or getpass.getuser()))
        self.stdout.write(
            f"{result.faces} faces in {result.frames_with_faces}/{result.frames} frames, "
            f"{result.tracks} track(s), kept {result.kept_tracks}; {result.frames_per_second:.1f} frames/s\n"
            f"alignments: {result.alignments_path}\ncontact sheet: {result.contact_sheet}"
        )
