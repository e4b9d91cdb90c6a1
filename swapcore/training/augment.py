"""Batched training augmentation: whole-batch tensor ops that run on the CPU or the GPU alike.

One random affine (rotation, zoom, shift, horizontal flip) moves both the network's input and its target; the
5x5 random grid warp is added to the input's sampling grid only, so the model learns to undo it (the
"denoising" that makes swapping work). Colour jitter in Lab changes input and target alike. Region weights
(eyes x3, mouth x2) and the face mask target come from the landmarks after the same affine, so they always sit
on the target's features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from swapcore.faces.align import FACE_OUTLINE

WARP_POINTS = 5


@dataclass(frozen=True)
class AugmentConfig:
    rotation: float = 10.0  # degrees, +-
    zoom: float = 0.05  # fraction, +-
    shift: float = 0.05  # fraction of the size, +-
    flip: float = 0.5  # probability of a horizontal flip
    lightness: float = 0.3  # Lab L jitter: fraction of the way towards black or white, +-
    chroma: float = 0.08  # Lab a/b jitter, fraction of the way towards the channel's ends, +-
    warp: float = 0.04  # std of the warp grid's offsets, in normalised (-1..1) coordinates
    eye_weight: float = 3.0
    mouth_weight: float = 2.0


@dataclass
class AugmentParams:
    """The random draws for one batch (drawn on the CPU from a seeded generator, so runs are reproducible)."""

    theta: torch.Tensor  # B x 2 x 3: target pixel (normalised) -> source pixel (normalised)
    warp: torch.Tensor  # B x 2 x 5 x 5 grid offsets
    colour: torch.Tensor  # B x 3 jitter fractions for L, a, b

    def to(self, device: torch.device) -> AugmentParams:
        return AugmentParams(self.theta.to(device), self.warp.to(device), self.colour.to(device))


@dataclass
class Batch:
    inputs: torch.Tensor  # B x 3 x S x S, warped
    targets: torch.Tensor  # B x 3 x S x S
    weights: torch.Tensor  # B x 1 x S x S region weights
    masks: torch.Tensor  # B x 1 x S x S face mask in [0, 1]


def _uniform(batch: int, limit: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(batch, generator=generator) * 2 - 1) * limit


def draw(batch: int, config: AugmentConfig, generator: torch.Generator) -> AugmentParams:
    """Random affine, warp and colour parameters for a batch."""
    angle = _uniform(batch, math.radians(config.rotation), generator)
    scale = 1 + _uniform(batch, config.zoom, generator)
    shift = torch.stack([_uniform(batch, 2 * config.shift, generator) for _ in range(2)], 1)
    flip = torch.where(torch.rand(batch, generator=generator) < config.flip, -1.0, 1.0)
    # Sampling grid: source = R(angle) / scale @ (flip * target) + shift; a zoom > 1 magnifies.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    warp = torch.randn(batch, 2, WARP_POINTS, WARP_POINTS, generator=generator) * config.warp
    limits = torch.tensor([config.lightness, config.chroma, config.chroma])
    colour = (torch.rand(batch, 3, generator=generator) * 2 - 1) * limits
    return AugmentParams(theta, warp, colour)


def identity_params(batch: int) -> AugmentParams:
    """No change at all: for evaluation and tests."""
    theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(batch, 2, 3).clone()
    return AugmentParams(theta, torch.zeros(batch, 2, WARP_POINTS, WARP_POINTS), torch.zeros(batch, 3))


# sRGB (D65) <-> CIE Lab, batched over NCHW tensors in [0, 1].
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27


def _channel_mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = _channel_mix(linear, _RGB_TO_XYZ) / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(1e-8) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    xyz = torch.where(f**3 > _EPSILON, f**3, (116 * f - 16) / _KAPPA) * _WHITE.to(lab).view(1, 3, 1, 1)
    linear = _channel_mix(xyz, torch.linalg.inv(_RGB_TO_XYZ)).clamp(0, 1)
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(1e-8) ** (1 / 2.4) - 0.055, 12.92 * linear)


def jitter_colour(rgb: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Move L, a and b each a random fraction of the way towards its upper (> 0) or lower (< 0) end."""
    lab = rgb_to_lab(rgb)
    low = torch.tensor([0.0, -128.0, -128.0], device=rgb.device).view(1, 3, 1, 1)
    high = torch.tensor([100.0, 127.0, 127.0], device=rgb.device).view(1, 3, 1, 1)
    amount = fractions.view(-1, 3, 1, 1)
    lab = lab + torch.where(amount > 0, amount * (high - lab), amount * (lab - low))
    return lab_to_rgb(lab)


def transform_landmarks(landmarks: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """Where pixel landmarks (B x K x 2) of the source land in the affine-transformed target."""
    normalised = (2 * landmarks + 1) / size - 1  # align_corners=False convention
    square = torch.cat([theta, torch.tensor([0.0, 0.0, 1.0], device=theta.device).expand(len(theta), 1, 3)], 1)
    inverse = torch.linalg.inv(square)[:, :2]
    moved = normalised @ inverse[:, :, :2].transpose(1, 2) + inverse[:, None, :, 2]
    return ((moved + 1) * size - 1) / 2


def _pixel_grid(size: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=torch.float32)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs, ys], -1)  # S x S x 2, (x, y)


def _segment_distance(points: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Distance of every pixel (S x S x 2) to each batch item's segment (B x 2 ends): B x S x S."""
    direction = (end - start)[:, None, None]
    offset = points[None] - start[:, None, None]
    along = ((offset * direction).sum(-1) / (direction * direction).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    return (offset - along[..., None] * direction).norm(dim=-1)


def face_outline(landmarks: torch.Tensor) -> torch.Tensor:
    """`swapcore.faces.align.face_outline` for a batch on the training device (B x 8 x 2)."""
    eyes = (landmarks[:, 0] + landmarks[:, 1]) / 2
    across = landmarks[:, 1] - landmarks[:, 0]
    down = (landmarks[:, 3] + landmarks[:, 4]) / 2 - eyes
    factors = torch.tensor(FACE_OUTLINE, device=landmarks.device)
    return eyes[:, None] + factors[None, :, :1] * across[:, None] + factors[None, :, 1:] * down[:, None]


def face_mask(landmarks: torch.Tensor, size: int, feather: float = 1.5) -> torch.Tensor:
    """B x 1 x S x S mask of the face polygon, with edges feathered over `feather` pixels."""
    polygon = face_outline(landmarks)  # B x K x 2
    edges = polygon.roll(-1, 1) - polygon
    offsets = _pixel_grid(size, landmarks.device)[None, None] - polygon[:, :, None, None]  # B x K x S x S x 2
    cross = edges[:, :, None, None, 0] * offsets[..., 1] - edges[:, :, None, None, 1] * offsets[..., 0]
    signed = cross / edges.norm(dim=-1)[:, :, None, None].clamp_min(1e-6)
    # A flipped face winds the other way round: the sign of the polygon's area says which side is inside.
    area = (polygon[..., 0] * polygon.roll(-1, 1)[..., 1] - polygon.roll(-1, 1)[..., 0] * polygon[..., 1]).sum(1)
    inside = (signed * torch.sign(area)[:, None, None, None]).amin(1)
    return (0.5 + inside / feather).clamp(0, 1)[:, None]


def region_weights(landmarks: torch.Tensor, size: int, config: AugmentConfig) -> torch.Tensor:
    """B x 1 x S x S loss weights: eye regions `eye_weight`, mouth `mouth_weight`, elsewhere 1."""
    points = _pixel_grid(size, landmarks.device)
    radius = (landmarks[:, 1] - landmarks[:, 0]).norm(dim=-1)[:, None, None] * 0.3
    eyes = torch.minimum(
        _segment_distance(points, landmarks[:, 0], landmarks[:, 0]),
        _segment_distance(points, landmarks[:, 1], landmarks[:, 1]),
    )
    mouth = _segment_distance(points, landmarks[:, 3], landmarks[:, 4])
    ones = torch.ones_like(eyes)
    weights = torch.where(mouth < radius, ones * config.mouth_weight, ones)
    return torch.where(eyes < radius, ones * config.eye_weight, weights)[:, None]


def _upsampled_warp(warp: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(warp, size=(size, size), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)


def augment(
    images: torch.Tensor, landmarks: torch.Tensor, params: AugmentParams, config: AugmentConfig
) -> Batch:
    """Turn uint8 faces (B x 3 x S x S) and their landmarks into a training batch, all on their device."""
    size = images.shape[-1]
    faces = images.float() / 255
    if params.colour.any():
        faces = jitter_colour(faces, params.colour)
    grid = F.affine_grid(params.theta, list(faces.shape), align_corners=False)
    targets = F.grid_sample(faces, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    warped_grid = grid + _upsampled_warp(params.warp, size)
    inputs = F.grid_sample(faces, warped_grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    moved = transform_landmarks(landmarks, params.theta, size)
    return Batch(inputs, targets, region_weights(moved, size, config), face_mask(moved, size))
