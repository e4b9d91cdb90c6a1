"""faceproof sort FOLDER: drop blurry, tiny, extreme-pose and near-duplicate faces; keep the most varied."""

from swapcore.faces.select import select_faces
from webapp.console.base import StageCommand


class Command(StageCommand):
    help = "Filter an extraction folder for training: dropped faces move to rejected/ with a reason."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="an extraction output folder")
        parser.add_argument("--track", type=int, action="append", dest="tracks", help="keep only this track (repeat)")
        parser.add_argument("--min-size", type=float, default=40.0, help="smallest face, in source pixels")
        parser.add_argument("--max-yaw", type=float, default=55.0, help="largest head turn, in degrees")
        parser.add_argument("--min-sharpness", type=float, default=0.3, help="fraction of the median sharpness")
        parser.add_argument("--dedupe", type=float, default=0.97, help="appearance similarity that counts as a duplicate")
        parser.add_argument("--max-faces", type=int, help="keep at most this many, chosen for variety")

    def run(self, **o):
        result = select_faces(
            o["folder"], tracks=o["tracks"], min_size=o["min_size"], max_yaw=o["max_yaw"],
            min_sharpness=o["min_sharpness"], dedupe=o["dedupe"], max_faces=o["max_faces"],
        )
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(result.dropped.items())) or "none"
        self.stdout.write(f"kept {result.kept} faces; dropped: {reasons}")
