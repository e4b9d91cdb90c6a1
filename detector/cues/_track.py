"""Per-track helpers the temporal cues share (kept apart from the registry, so that the cached features of a
cue are keyed by the code that computes them: `detector.fit.dataset.cue_fingerprint`)."""

from __future__ import annotations

import numpy as np

from detector.faces import FaceTrack


def fill_edges(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Frames where a temporal measure is undefined (track ends, gaps) take the track's median value."""
    values = np.asarray(values, np.float64)
    if not valid.any():
        return np.zeros_like(values)
    return np.where(valid[:, None] if values.ndim == 2 else valid, values, np.median(values[valid], axis=0))


def consecutive(track: FaceTrack) -> np.ndarray:
    """True where observation i directly follows observation i-1 (same track, next frame)."""
    frames = np.asarray(track.frames)
    follows = np.zeros(len(frames), bool)
    follows[1:] = np.diff(frames) == 1
    return follows
