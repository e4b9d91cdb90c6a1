"""What a save leaves for people to look at: metrics.jsonl, the loss-curve PNG and the swap preview grid."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

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
    tmp = model_dir / f".{METRICS}.tmp"
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    os.replace(tmp, model_dir / METRICS)


def plot_loss_curve(model_dir: Path) -> Path:
    """Training and held-out loss per identity against iteration, as a PNG (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(model_dir)
    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key, style in (("loss", "-"), ("holdout_loss", "--")):
        names = sorted({name for row in rows for name in row.get(key) or {}})
        for name in names:
            points = [(row["iteration"], row[key][name]) for row in rows if name in (row.get(key) or {})]
            if points:
                xs, ys = zip(*points)
                axis.plot(xs, ys, style, label=f"{name} ({'train' if key == 'loss' else 'held out'})")
    axis.set_xlabel("iteration")
    axis.set_ylabel("loss")
    axis.set_yscale("log")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    path = model_dir / LOSS_CURVE
    tmp = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(tmp)
    plt.close(figure)
    os.replace(tmp, path)
    return path


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
