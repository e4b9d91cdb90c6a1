"""Fitting the learned blend detector (`detector.blendnet`): training faces, pastes made on the fly, folds of
people, and the training loop (on a GPU where there is one; it also completes on a CPU, more slowly).

Training faces are aligned head crops with their 68 points, taken from the authentic reference clips of every
person (`detector.fit.reference`, CRF 18 at full size) and stored in one small *pack* (`write_pack`), so
training needs neither the videos nor the face detector: only numpy, OpenCV and torch. Each sample is such a
crop, as it is (label 0) or with a face blended in (label 1), made anew every time:
- the face to paste is the same face shifted, rescaled and degraded (a self-blend), or another person's face
  warped onto it by the 68 points, as pasting tools do, with the landmarks jittered;
- the mask is one of the polygons such tools use (68-point hull, 5-point face polygon, outline raised into the
  forehead, inner hull, an ellipse), grown or shrunk, jittered, hard-edged or feathered;
- the paste is colour-matched or not, sometimes rendered small and enlarged, sometimes Poisson-blended;
- both classes then go through the same conditions: half size and back, JPEG at quality 30-95, a flip.
Besides the label, the network learns where the blend boundary runs (none in an authentic crop), as Face X-ray
does: that asks it for the edge itself rather than for whatever else tells its training people's pastes apart.
The benchmark's paste clips (`detector.fit.pastes`) are never used here: they are made by other code, encoded
by a real H.264 encoder, and judge the network from outside.

People are split into folds (`person_folds`, look-alikes together); a network is fitted per fold without its
people, and its logits on them are the out-of-sample values the evidence fit uses; the shipped network is
fitted on everyone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from detector.blendnet import BOUNDARY_SIZE, INPUT_SIZE, BlendNet, to_input
from detector.fit.model import auc
from swapcore.faces.align import face_outline, umeyama
from swapcore.faces.landmarks import FaceShape

# People whose faces resemble each other's are kept in one fold, so no network is judged on a look-alike of
# someone it was trained on.
LOOKALIKES = (("happyenglish", "surprisegirl"), ("furious1", "furious2"))


@dataclass(frozen=True)
class Settings:
    seconds: float = 0.0  # training time; 0: train `steps` steps
    steps: int = 2000
    batch: int = 64
    learning_rate: float = 2e-3
    width: int = 32
    boundary_weight: float = 10.0  # of the blend-boundary loss beside the authentic/blended one
    workers: int = 2
    seed: int = 1


@dataclass(frozen=True)
class Face:
    person: str
    crop: np.ndarray  # aligned BGR head crop (INPUT_SIZE square)
    points: np.ndarray  # its 68 points, crop pixels


# ---- the pack of training faces ----

def write_pack(faces: list[Face], path: Path, quality: int = 95) -> None:
    """Store faces as JPEG (quality 95: far finer than the JPEG the samples are put through) with their points."""
    encoded = [cv2.imencode(".jpg", f.crop, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].ravel() for f in faces]
    np.savez(path, jpeg=np.concatenate(encoded), offsets=np.cumsum([0] + [len(e) for e in encoded]),
             people=np.array([f.person for f in faces]), points=np.stack([f.points for f in faces]).astype(np.float32))


def read_pack(path: Path) -> list[Face]:
    with np.load(path) as pack:
        jpeg, offsets, people, points = pack["jpeg"], pack["offsets"], pack["people"], pack["points"]
    return [Face(str(person), cv2.imdecode(jpeg[lo:hi], cv2.IMREAD_COLOR), pts.astype(np.float64))
            for person, lo, hi, pts in zip(people, offsets[:-1], offsets[1:], points)]


def person_folds(people: list[str], folds: int) -> dict[str, int]:
    """Each person's fold: look-alikes share one; the rest are dealt round in name order."""
    out: dict[str, int] = {}
    for number, person in enumerate(sorted(set(people) - {p for pair in LOOKALIKES for p in pair[1:]})):
        out[person] = number % folds
    for first, *others in LOOKALIKES:
        for other in others:
            out[other] = out[first] if first in out else len(out) % folds
    return {p: out[p] for p in sorted(set(people))}


# ---- pastes made on the fly ----

def _jpeg(image: np.ndarray, rng: np.random.Generator, low: int = 30, high: int = 96) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(low, high))])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def _resampled(image: np.ndarray, factor: float) -> np.ndarray:
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def _degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a generator or a careless paste does to the pasted face: blur, low-resolution render, sharpening or
    nothing; then often a small shift of lightness and colour."""
    out, pick = face.astype(np.float32), rng.random()
    if pick < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.8))
    elif pick < 0.5:
        out = _resampled(out, rng.uniform(0.25, 0.8))
    elif pick < 0.6:
        out = out + rng.uniform(0.3, 1.0) * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        colour = cv2.cvtColor(out, cv2.COLOR_BGR2LAB).astype(np.float32) + rng.normal(0, [5, 3, 3])
        out = cv2.cvtColor(np.clip(colour, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
    return out


def _mask(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pasting mask (uint8 0/1): one of the polygons tools use, grown or shrunk and jittered."""
    shape, pick = FaceShape(points), rng.random()
    if pick < 0.45:
        polygon = shape.hull()
    elif pick < 0.6:
        polygon = face_outline(shape.five)
    elif pick < 0.75:
        polygon = cv2.convexHull(shape.outline(forehead=rng.uniform(0.1, 0.5)).astype(np.float32)).reshape(-1, 2)
    elif pick < 0.9:
        polygon = shape.hull("inner")
    else:
        centre, axes = shape.hull().mean(0), np.ptp(shape.hull(), axis=0) / 2
        angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        polygon = centre + axes * np.stack([np.cos(angle), np.sin(angle)], 1)
    centre = polygon.mean(0)
    polygon = centre + (polygon - centre) * rng.uniform(0.88, 1.08)
    polygon = polygon + rng.normal(0, 0.02 * shape.eye_distance, polygon.shape)
    mask = np.zeros((INPUT_SIZE, INPUT_SIZE), np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask


def _source(face: Face, donor: Face | None, rng: np.random.Generator) -> np.ndarray:
    """The face to paste: the donor's warped onto `face` by the 68 points (aimed at jittered landmarks, as a
    tracker gives them), or `face` itself shifted and rescaled a little."""
    if donor is not None:
        spread = rng.uniform(0.0, 0.03) * FaceShape(face.points).eye_distance
        matrix, image = umeyama(donor.points, face.points + rng.normal(0, spread, face.points.shape)), donor.crop
    else:
        scale, centre = rng.uniform(0.96, 1.04), face.points.mean(0)
        matrix = np.array([[scale, 0, (1 - scale) * centre[0]], [0, scale, (1 - scale) * centre[1]]])
        matrix[:, 2] += rng.normal(0, 1.5, 2)
        image = face.crop
    return cv2.warpAffine(image, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def _match_colour(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Lab mean and spread of the source's masked pixels moved to the target's (what colour correction does)."""
    inside = mask.astype(bool)
    src = cv2.cvtColor(source, cv2.COLOR_BGR2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    mean_s, std_s = src[inside].mean(0), src[inside].std(0) + 1e-3
    mean_d, std_d = dst[inside].mean(0), dst[inside].std(0) + 1e-3
    moved = (src - mean_s) * (std_d / std_s) + mean_d
    return cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def blended(face: Face, donor: Face | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`face`'s crop with a face pasted in (see the module's docstring), and the blend's opacity (0-1 per pixel)."""
    source = _degrade(_source(face, donor, rng), rng)
    mask = _mask(face.points, rng)
    if rng.random() < 0.7:
        source = _match_colour(source, face.crop, mask)
    if rng.random() < 0.15:
        x, y, w, h = cv2.boundingRect(mask)
        cloned = cv2.seamlessClone(source, face.crop, mask * 255, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
        return cloned, mask.astype(np.float32)
    alpha = mask.astype(np.float32)
    if rng.random() < 0.7:  # feathered: eroded by the blur's reach first, so the blend stays inside the mask
        sigma = rng.uniform(0.5, 0.07 * np.ptp(face.points[:, 0]))
        reach = int(round(1.2 * sigma))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        alpha = cv2.GaussianBlur(cv2.erode(mask, kernel).astype(np.float32), (0, 0), sigma)
    pasted = (face.crop * (1 - alpha[..., None]) + source * alpha[..., None]).clip(0, 255).astype(np.uint8)
    return pasted, alpha


def boundary(alpha: np.ndarray) -> np.ndarray:
    """Where the blend changes from head to pasted face (after Face X-ray, Li et al., CVPR 2020): 4a(1-a) of the
    opacity, softened a little so a hard edge has width, on the network's BOUNDARY_SIZE grid."""
    soft = cv2.GaussianBlur(alpha, (0, 0), 2.0)
    return cv2.resize(4 * soft * (1 - soft), (BOUNDARY_SIZE, BOUNDARY_SIZE), interpolation=cv2.INTER_AREA)


def conditioned(image: np.ndarray, edge: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The viewing conditions both classes go through alike: half size and back, lossy compression, a flip (of
    the image and of its blend boundary)."""
    if rng.random() < 0.3:
        image = _resampled(image, rng.uniform(0.45, 0.75))
    if rng.random() < 0.9:
        image = _jpeg(image, rng)
    return (image[:, ::-1], edge[:, ::-1]) if rng.random() < 0.5 else (image, edge)


def sample(faces: list[Face], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """One training crop, its blend boundary and its label: authentic (0, no boundary) or with a face blended in
    (1), half and half."""
    face = faces[rng.integers(len(faces))]
    if rng.random() < 0.5:
        return *conditioned(face.crop, np.zeros((BOUNDARY_SIZE, BOUNDARY_SIZE), np.float32), rng), 0
    donor = None
    if rng.random() < 0.6:
        donor = faces[rng.integers(len(faces))]
        donor = donor if donor.person != face.person else None
    pasted, alpha = blended(face, donor, rng)
    return *conditioned(pasted, boundary(alpha), rng), 1


class Samples(torch.utils.data.IterableDataset):
    """An endless stream of labelled crops; each loader worker draws from its own random stream."""

    def __init__(self, faces: list[Face], seed: int) -> None:
        self.faces, self.seed = faces, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        cv2.setNumThreads(1)  # one loader worker per core does the parallel work
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            image, edge, label = sample(self.faces, rng)
            yield torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(np.ascontiguousarray(edge)), label


# ---- training ----

def _loader(faces: list[Face], settings: Settings, seed: int, pin: bool) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(Samples(faces, seed), batch_size=settings.batch, num_workers=settings.workers,
                                       pin_memory=pin, persistent_workers=settings.workers > 0,
                                       prefetch_factor=4 if settings.workers else None)


def synthetic_auc(net: BlendNet, faces: list[Face], settings: Settings, samples: int = 2048,
                  device: str = "cpu") -> float:
    """AUC of the network on pastes made on the fly from `faces` (people it was not trained on, for a fold)."""
    logits, labels = [], []
    net = net.to(device).eval()
    with torch.inference_mode():
        for images, _, label in _loader(faces, settings, settings.seed + 1000, False):
            logits.append(net(to_input(images.to(device))).float().cpu().numpy())
            labels.append(label.numpy())
            if sum(map(len, labels)) >= samples:
                break
    scores, truth = np.concatenate(logits), np.concatenate(labels)
    return auc(scores[truth == 0], scores[truth == 1])


def _learning_rate(settings: Settings, progress: float) -> float:
    """Linear warm-up over the first 5 %, then a cosine down to zero."""
    if progress < 0.05:
        return settings.learning_rate * progress / 0.05
    return settings.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - 0.05) / 0.95)))


def train(faces: list[Face], settings: Settings, device: str | None = None,
          log: Callable[[str], None] = print) -> tuple[BlendNet, dict]:
    """Fit a network on `faces` for `settings.seconds` (or `steps`); returns it with a record of the fit."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(settings.seed)
    torch.backends.cudnn.benchmark = True
    net = BlendNet(settings.width).to(device).to(memory_format=torch.channels_last).train()
    optimiser = torch.optim.AdamW(net.parameters(), settings.learning_rate, weight_decay=5e-4)
    start, step, smoothed = time.monotonic(), 0, None
    for images, edges, labels in _loader(faces, settings, settings.seed, device == "cuda"):
        elapsed = time.monotonic() - start
        progress = elapsed / settings.seconds if settings.seconds else step / settings.steps
        if progress >= 1:
            break
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(settings, progress)
        inputs = to_input(images.to(device, non_blocking=True))
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits, edge_logits = net.with_boundary(inputs)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.to(device).float())
        loss = loss + settings.boundary_weight * torch.nn.functional.binary_cross_entropy_with_logits(
            edge_logits.float(), edges.to(device, non_blocking=True))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        if step % 50 == 0:
            smoothed = loss.item() if smoothed is None else 0.8 * smoothed + 0.2 * loss.item()
        if step % 500 == 0:
            log(f"  step {step}  {elapsed:.0f} s  loss {smoothed:.3f}")
    record = {"people": sorted({f.person for f in faces}), "faces": len(faces), "steps": step,
              "samples": step * settings.batch, "seconds": round(time.monotonic() - start, 1),
              "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
              "final_loss": None if smoothed is None else round(smoothed, 4), "settings": asdict(settings)}
    return net.eval(), record
