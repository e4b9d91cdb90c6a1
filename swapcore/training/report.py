"""What a save leaves for people to look at: metrics.jsonl, the loss-curve PNG and the swap preview grid.

The two pictures are outputs like any other: `SealedPreviews` watermarks, signs (C2PA) and logs each one through
the installation's sealer, so a preview that leaves the machine is as traceable as a converted video.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from provenance.custody.log import sha256_file
from provenance.seal import Sealer, SealRequest
from provenance.work import replace_atomically
from swapcore.media import write_sealed_image
from swapcore.training import bundle

METRICS = "metrics.jsonl"
LOSS_CURVE = "loss_curve.png"
PREVIEWS = "previews"
_LABEL_WIDTH = 72


def append_metrics(model_dir: Path, row: dict[str, Any]) -> None:
    with open(model_dir / METRICS, "a") as handle:
        handle.write(json.dumps(row, allow_nan=True) + "\n")


def read_metrics(model_dir: Path) -> list[dict[str, Any]]:
    path = model_dir / METRICS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a kill: everything before it is good
    return rows


def truncate_metrics(model_dir: Path, last_iteration: int) -> None:
    """Forget rows after `last_iteration` (written before a crash that lost their checkpoint)."""
    rows = [row for row in read_metrics(model_dir) if row["iteration"] <= last_iteration]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    replace_atomically(model_dir / METRICS, lambda partial: partial.write_text(text))


def plot_loss_curve(model_dir: Path) -> np.ndarray:
    """Training and held-out loss per identity against iteration, as a BGR image (Agg backend: no display needed)."""
    import matplotlib.pyplot as plt

    figure = loss_figure(read_metrics(model_dir))
    encoded = io.BytesIO()
    figure.savefig(encoded, format="png")
    plt.close(figure)
    return cv2.imdecode(np.frombuffer(encoded.getvalue(), np.uint8), cv2.IMREAD_COLOR)


def loss_figure(rows: list[dict[str, Any]]) -> Any:
    """The loss chart of metrics rows: readable from the first save on (a matplotlib Figure; the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=100)
    names = sorted({name for row in rows for key in ("loss", "holdout_loss") for name in row.get(key) or {}})
    colours = {name: f"C{index % 10}" for index, name in enumerate(names)}  # one colour per identity, both series
    for key, style in (("loss", "-"), ("holdout_loss", "--")):
        for name in names:
            points = [(row["iteration"], row[key][name]) for row in rows if name in (row.get(key) or {})]
            if points:  # a series with no point gets no legend entry; markers make a first save's single point visible
                xs, ys = zip(*points)
                axis.plot(xs, ys, style, marker="o", markersize=4, color=colours[name],
                          markerfacecolor=colours[name] if key == "loss" else "none",
                          label=f"{name} ({'train' if key == 'loss' else 'held out'})")
    last = max((row["iteration"] for row in rows), default=0)
    axis.set_xlim(0, max(last, 1) * 1.05)  # from iteration 0, so the first save does not sit alone mid-chart
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("iteration")
    axis.set_ylabel("loss (log scale)")
    axis.grid(True, alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.set_yscale("log")
        for ticks in (axis.yaxis.set_major_formatter, axis.yaxis.set_minor_formatter):
            ticks(FormatStrFormatter("%.3g"))  # 0.25, not 2.5 x 10^-1
        axis.legend(fontsize="small")
    else:  # before the first save: say so instead of drawing meaningless default axes
        axis.set_yticks([])
        axis.text(0.5, 0.5, "no loss measured yet: the first point appears at the first save",
                  ha="center", va="center", transform=axis.transAxes, color="0.4")
    figure.tight_layout()
    return figure


@dataclass
class SealedPreviews:
    """Writes a save's preview grid and loss curve as sealed PNGs: one seal each, citing model and consents."""

    sealer: Sealer
    actor: str
    identities: Sequence[str]  # the model's identity names: sealing refuses any whose consent was revoked

    def write(self, model_dir: Path, iteration: int, arch: str, grid: np.ndarray) -> list[Any]:
        """Seal `previews/preview_NNNNNNN.png` (and its copy `latest.png`) and `loss_curve.png`."""
        model = {"arch": arch, "sha256": sha256_file(model_dir / bundle.CHECKPOINT)}
        previews = model_dir / PREVIEWS
        previews.mkdir(exist_ok=True)
        grid_path = previews / f"preview_{iteration:07d}.png"
        sealed = [self._seal(grid, grid_path, f"{model_dir.name} preview, iteration {iteration}", model, iteration)]
        # the same signed bytes: C2PA binds content, not names
        replace_atomically(previews / "latest.png", lambda partial: shutil.copyfile(grid_path, partial))
        curve = plot_loss_curve(model_dir)
        sealed.append(self._seal(curve, model_dir / LOSS_CURVE, f"{model_dir.name} loss curve, iteration {iteration}",
                                 model, iteration))
        return sealed

    def _seal(self, image: np.ndarray, path: Path, title: str, model: dict[str, str], iteration: int) -> Any:
        request = SealRequest(kind="image", title=title, actor=self.actor, model=model, consents=list(self.identities),
                              parameters={"iteration": iteration, "output": path.name})
        return write_sealed_image(self.sealer.begin(request), image, path)



def _to_bgr_row(images: torch.Tensor) -> np.ndarray:
    """N x 3 x S x S RGB in [0, 1] -> one S x (N*S) BGR uint8 strip."""
    strip = (images.detach().float().clamp(0, 1) * 255).round().byte().permute(2, 0, 3, 1)
    strip = strip.reshape(images.shape[2], -1, 3).cpu().numpy()
    return np.ascontiguousarray(strip[..., ::-1])


def _labelled(label: str, row: np.ndarray) -> np.ndarray:
    tag = np.full((row.shape[0], _LABEL_WIDTH, 3), 32, np.uint8)
    cv2.putText(tag, label, (4, row.shape[0] // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return np.hstack([tag, row])


def preview_grid(rows: list[tuple[str, torch.Tensor]]) -> np.ndarray:
    """Labelled rows of faces (e.g. "A", "A>A", "A>B", ...) stacked into one BGR image."""
    return np.vstack([_labelled(label, _to_bgr_row(images)) for label, images in rows])
