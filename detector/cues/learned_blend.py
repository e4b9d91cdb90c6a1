"""Learned blend: a network's judgement of the whole head crop (`detector.blendnet`).

A small residual CNN, trained from scratch on authentic faces with faces blended into them on the fly (the same
face degraded, or another person's warped on by the landmarks; masks, feathering, colour correction and Poisson
blending drawn anew each time), says how sure it is that a face was blended in. Its channel in the evidence is
compared, like every cue's, with authentic faces it never saw: the reference values come from networks fitted
without each person (`scripts/fit_blendnet.py score`).

The network reads at most `MOST_FRAMES` frames of a track, evenly spaced and at least `EVERY` apart (about
25 ms a frame on a 2-core CPU); the frames between take the nearest value read.
"""

from __future__ import annotations

import numpy as np

from detector import blendnet
from detector.cues import Cue, register
from detector.faces import FaceTrack

EVERY = 4
MOST_FRAMES = 48


def _step(length: int) -> int:
    return max(EVERY, int(np.ceil(length / MOST_FRAMES)))


def sampled(length: int) -> np.ndarray:
    """The frame positions the network reads in a track of `length`."""
    return np.arange(0, length, _step(length))


def frame_values(crops: list[np.ndarray], net: blendnet.BlendNet | None = None) -> np.ndarray:
    """The network's logit for every crop (frames x 1): read at `sampled` positions, the nearest one elsewhere."""
    if not crops:
        return np.zeros((0, 1))
    read = sampled(len(crops))
    logits = blendnet.frame_logits([crops[i] for i in read], net)
    nearest = np.minimum(np.round(np.arange(len(crops)) / _step(len(crops))).astype(int), len(read) - 1)
    return logits[nearest].astype(np.float64).reshape(-1, 1)


def compute(track: FaceTrack) -> np.ndarray:
    return frame_values(track.crops)


register(Cue(
    name="learned_blend",
    features=("learned_blend_logit",),
    compute=compute,
    reason="A network trained on faces blended into authentic heads finds the signs of a blended face here.",
    calm="A network trained on blended faces scores this face like authentic ones.",
    weights=blendnet.fingerprint,
))
