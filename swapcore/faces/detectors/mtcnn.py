"""facenet-pytorch's MTCNN: a three-stage cascade whose weights ship inside the wheel (no download)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from swapcore.faces.detectors import Detection, register


@register("mtcnn")
class MTCNNDetector:
    """Finds faces down to about `min_face` pixels; frames larger than `max_side` are shrunk for detection only.

    `min_face` sets the finest level of MTCNN's image pyramid, which costs the most: 40 px runs ~4x faster than
    facenet's default of 20 px, and faces that small are too small to swap anyway.

    Shrinking bounds the cost of MTCNN's image pyramid on large frames; boxes and landmarks are scaled back to
    the original frame, and the aligned crop is still cut from the full-resolution frame.
    """

    name = "mtcnn"

    def __init__(
        self,
        device: str | None = None,
        min_face: int = 40,
        min_confidence: float = 0.9,
        max_side: int = 720,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        from facenet_pytorch import MTCNN  # loads on first use: importing the detector registry needs no model

        self.model = MTCNN(keep_all=True, device=self.device, min_face_size=min_face, post_process=False)
        self.min_confidence = min_confidence
        self.max_side = max_side

    def detect(self, frames_rgb: list[np.ndarray]) -> list[list[Detection]]:
        height, width = frames_rgb[0].shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        batch = frames_rgb if scale == 1.0 else [
            cv2.resize(f, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            for f in frames_rgb
        ]
        with torch.inference_mode():
            boxes, scores, points = self.model.detect(np.stack(batch), landmarks=True)
        return [self._faces(b, s, p, scale) for b, s, p in zip(boxes, scores, points)]

    def _faces(self, boxes, scores, points, scale: float) -> list[Detection]:
        if boxes is None:
            return []
        return [
            Detection(box=np.asarray(b, np.float64) / scale, score=float(s), landmarks=np.asarray(p, np.float64) / scale)
            for b, s, p in zip(boxes, scores, points)
            if s is not None and s >= self.min_confidence
        ]
