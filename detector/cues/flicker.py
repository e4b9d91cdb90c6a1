"""Flicker: does the face's brightness or colour wobble from frame to frame while its surroundings do not?

Swaps render each frame on its own and colour-correct it on its own, so the face's lightness and tint
relative to the ring around it jitter. The measure is the deviation of (face - ring) Lab means from the
midpoint of the neighbouring frames' (a second difference): slow lighting changes, steady fades and changes
shared with the surroundings cancel out; a frame-to-frame wobble, even a strictly alternating one, does not.
"""

from __future__ import annotations

import numpy as np
from detector.cues import Cue, register
from detector.cues._track import consecutive, fill_edges
from detector.cues._image import lab
from detector.faces import GEOMETRY, FaceTrack


def face_minus_ring(crop_bgr: np.ndarray) -> np.ndarray:
    """Lab mean of the face interior minus that of the surrounding ring (3,)."""
    colour = lab(crop_bgr)
    return colour[GEOMETRY.inner].mean(0) - colour[GEOMETRY.ring].mean(0)


def flicker_series(contrast: np.ndarray) -> np.ndarray:
    """(N x 2): |lightness| and |chroma| deviation of each frame from its neighbours' midpoint (0 at the ends)."""
    deviation = np.zeros_like(contrast)
    deviation[1:-1] = contrast[1:-1] - (contrast[:-2] + contrast[2:]) / 2
    return np.stack([np.abs(deviation[:, 0]), np.linalg.norm(deviation[:, 1:], axis=1)], axis=1)


def compute(track: FaceTrack) -> np.ndarray:
    contrast = np.array([face_minus_ring(crop) for crop in track.crops]).reshape(-1, 3)
    follows = consecutive(track)
    valid = np.zeros(len(track), bool)
    valid[1:-1] = follows[1:-1] & follows[2:]  # both neighbours are the adjacent frames
    return np.log1p(fill_edges(flicker_series(contrast), valid))


register(Cue(
    name="flicker",
    features=("flicker_lightness", "flicker_colour"),
    compute=compute,
    reason="The face's brightness or colour flickers from frame to frame independently of its surroundings, "
           "as when each frame's face is rendered and colour-matched separately.",
    calm="The face's brightness and colour change smoothly, together with its surroundings.",
))
