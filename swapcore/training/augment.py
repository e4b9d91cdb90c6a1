"""Batched training augmentation: whole-batch tensor ops that run on the CPU or the GPU alike.

One random affine (rotation, zoom, shift, horizontal flip) moves both the network's input and its target; the
5x5 random grid warp is added to the input's sampling grid only, so the model learns to undo it (the
"denoising" that makes swapping work). Colour jitter in Lab changes input and target alike. Region weights
(eyes x3, mouth x2) and the face mask target are moved by the same affine, so they always sit on the target's
features: maps drawn at loading (from the 68 points where known) or drawn here from the 5 points.

Synthetic occluders (for models that learn a mask) teach the mask to leave out whatever is in front of the face,
as FaceFusion's occluder model and DeepFaceLab's XSeg learn to: in a random rounded shape (ellipse to rounded
rectangle) somewhere over the face, either a patch cut from another face of the batch, shifted and recoloured
(skin, as a hand in front of the face looks), or a textured object (a random colour with low-frequency shading).
It is pasted before the affine, so input and target carry it alike. The mask target is zero under it and the
reconstruction loss ignores it, so the model is never asked to render an occluder as part of the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from swapcore.faces.align import FACE_OUTLINE
from swapcore.options import option

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
    occluders: float = option(0.5, minimum=0, maximum=1, web=False,
                              help="share of training faces given a synthetic occluder, left out of the mask target; "
                                   "a model with a learned mask then also learns where the face is hidden (0 = none, "
                                   "the mask of older models)")


@dataclass
class OccluderParams:
    """Random occluders for a batch; sizes and places are in the face's own units, so they follow its scale."""

    on: torch.Tensor  # B bool: this face gets one
    place: torch.Tensor  # B x 5: centre (across, down: eye-to-eye and eye-to-mouth units from the eye centre),
    #                      half width and half height (eye distances), angle (radians)
    roundness: torch.Tensor  # B: superellipse exponent, 2 = ellipse, 8 ~ rounded rectangle
    donor: torch.Tensor  # B long: the face of the batch the texture is cut from (never the face itself)
    shift: torch.Tensor  # B x 2: where in the donor the patch comes from (normalised offset)
    gain: torch.Tensor  # B x 3: per-channel colour gains of the patch
    textured: torch.Tensor  # B bool: a textured object instead of a patch of a face
    texture: torch.Tensor  # B x 3 x 4 x 4: the object's colours on a coarse grid (upsampled smoothly)

    def to(self, device: torch.device) -> OccluderParams:
        return OccluderParams(*(getattr(self, name).to(device) for name in
                                ("on", "place", "roundness", "donor", "shift", "gain", "textured", "texture")))


@dataclass
class AugmentParams:
    """The random draws for one batch (drawn on the CPU from a seeded generator, so runs are reproducible)."""

    theta: torch.Tensor  # B x 2 x 3: target pixel (normalised) -> source pixel (normalised)
    warp: torch.Tensor  # B x 2 x 5 x 5 grid offsets
    colour: torch.Tensor  # B x 3 jitter fractions for L, a, b
    occluders: OccluderParams | None = None  # None: no face gets one

    def to(self, device: torch.device) -> AugmentParams:
        occluders = None if self.occluders is None else self.occluders.to(device)
        return AugmentParams(self.theta.to(device), self.warp.to(device), self.colour.to(device), occluders)


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
    # Drawn only when asked for, so that models without a mask keep the random stream they always had.
    occluders = draw_occluders(batch, config.occluders, generator) if config.occluders > 0 and batch > 1 else None
    return AugmentParams(theta, warp, colour, occluders)


def _between(low: float, high: float, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def draw_occluders(batch: int, share: float, generator: torch.Generator) -> OccluderParams:
    """Occluders for about `share` of a batch: over the cheeks, mouth, chin or an eye, up to most of the face."""
    place = torch.stack([
        _between(-1.1, 1.1, (batch,), generator),  # across, from the eye centre
        _between(-0.3, 1.8, (batch,), generator),  # down: eyes (0) to below the chin
        _between(0.25, 0.8, (batch,), generator),  # half width
        _between(0.25, 0.8, (batch,), generator),  # half height
        _between(0.0, math.pi, (batch,), generator),  # angle
    ], 1)
    donor = (torch.arange(batch) + torch.randint(1, batch, (batch,), generator=generator)) % batch
    return OccluderParams(
        on=torch.rand(batch, generator=generator) < share, place=place,
        roundness=_between(2.0, 8.0, (batch,), generator), donor=donor,
        shift=_between(-0.5, 0.5, (batch, 2), generator), gain=_between(0.6, 1.4, (batch, 3), generator),
        textured=torch.rand(batch, generator=generator) < 0.5,
        # One colour per object, shaded by up to +-0.15 over its coarse grid.
        texture=(torch.rand(batch, 3, 1, 1, generator=generator) + _between(-0.15, 0.15, (batch, 3, 4, 4), generator)
                 ).clamp(0, 1),
    )


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


def feature_masks(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """B x 2 x S x S masks of the eyes (discs round the 5-point eye centres) and the mouth (round the corners)."""
    points = _pixel_grid(size, landmarks.device)
    radius = (landmarks[:, 1] - landmarks[:, 0]).norm(dim=-1)[:, None, None] * 0.3
    eyes = torch.minimum(
        _segment_distance(points, landmarks[:, 0], landmarks[:, 0]),
        _segment_distance(points, landmarks[:, 1], landmarks[:, 1]),
    )
    mouth = _segment_distance(points, landmarks[:, 3], landmarks[:, 4])
    return torch.stack([eyes < radius, mouth < radius], 1).float()


def weights_of(features: torch.Tensor, config: AugmentConfig) -> torch.Tensor:
    """B x 1 x S x S loss weights from eye and mouth masks: `eye_weight`, `mouth_weight`, elsewhere 1."""
    eyes, mouth = features[:, :1], features[:, 1:2]
    weights = torch.where(mouth > 0.5, config.mouth_weight, 1.0)
    return torch.where(eyes > 0.5, config.eye_weight, weights)


def region_weights(landmarks: torch.Tensor, size: int, config: AugmentConfig) -> torch.Tensor:
    """B x 1 x S x S loss weights from the 5 points."""
    return weights_of(feature_masks(landmarks, size), config)


def regions_of(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """B x 3 x S x S uint8 maps (face target, eyes, mouth) from the 5 points: what faces without 68 points get."""
    return (torch.cat([face_mask(landmarks, size), feature_masks(landmarks, size)], 1) * 255).round().byte()


def occluder_alpha(landmarks: torch.Tensor, occluders: OccluderParams, size: int, feather: float = 1.0
                   ) -> torch.Tensor:
    """B x 1 x S x S coverage of each face's occluder (a superellipse), edges feathered over `feather` pixels."""
    eyes = (landmarks[:, 0] + landmarks[:, 1]) / 2
    across = landmarks[:, 1] - landmarks[:, 0]
    down = (landmarks[:, 3] + landmarks[:, 4]) / 2 - eyes
    place = occluders.place
    centre = eyes + place[:, :1] * across + place[:, 1:2] * down
    halves = place[:, 2:4] * across.norm(dim=-1, keepdim=True).clamp_min(1.0)  # B x 2, pixels
    cos, sin = torch.cos(place[:, 4])[:, None, None], torch.sin(place[:, 4])[:, None, None]
    offset = _pixel_grid(size, landmarks.device)[None] - centre[:, None, None]  # B x S x S x 2
    u = (cos * offset[..., 0] + sin * offset[..., 1]).abs() / halves[:, 0, None, None]
    v = (-sin * offset[..., 0] + cos * offset[..., 1]).abs() / halves[:, 1, None, None]
    power = occluders.roundness[:, None, None]
    radius = (u.clamp_min(1e-6) ** power + v.clamp_min(1e-6) ** power) ** (1 / power)  # 1 on the edge
    inside = (1 - radius) * halves.amin(1)[:, None, None]  # roughly pixels inside the edge
    alpha = (0.5 + inside / feather).clamp(0, 1) * occluders.on[:, None, None]
    return alpha[:, None]


def occlude(faces: torch.Tensor, landmarks: torch.Tensor, occluders: OccluderParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces (B x 3 x S x S in [0, 1]) with their occluders pasted in, and the occluders' coverage (B x 1 x S x S)."""
    size = faces.shape[-1]
    alpha = occluder_alpha(landmarks, occluders, size)
    moved = torch.eye(2, 3, device=faces.device).expand(len(faces), 2, 3).clone()
    moved[:, :, 2] = occluders.shift
    grid = F.affine_grid(moved, list(faces.shape), align_corners=False)
    texture = F.grid_sample(faces[occluders.donor], grid, mode="bilinear", padding_mode="reflection",
                            align_corners=False)
    texture = (texture * occluders.gain[:, :, None, None]).clamp(0, 1)
    shaded = F.interpolate(occluders.texture, size=faces.shape[-2:], mode="bicubic", align_corners=True).clamp(0, 1)
    texture = torch.where(occluders.textured[:, None, None, None], shaded, texture)
    return faces * (1 - alpha) + texture * alpha, alpha


def _upsampled_warp(warp: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(warp, size=(size, size), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)


def augment(
    images: torch.Tensor, landmarks: torch.Tensor, params: AugmentParams, config: AugmentConfig,
    regions: torch.Tensor | None = None,
) -> Batch:
    """Turn uint8 faces (B x 3 x S x S) and their landmarks into a training batch, all on their device.

    `regions` (B x 3 x S x S uint8: face target, eyes, mouth; see `swapcore.training.data`) are moved with the
    faces; without them the face target and loss weights are drawn from the 5 points after the affine.
    """
    size = images.shape[-1]
    faces = images.float() / 255
    if params.colour.any():
        faces = jitter_colour(faces, params.colour)
    grid = F.affine_grid(params.theta, list(faces.shape), align_corners=False)
    visible = None
    if params.occluders is not None:
        faces, alpha = occlude(faces, landmarks, params.occluders)
        visible = 1 - F.grid_sample(alpha, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    targets = F.grid_sample(faces, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    warped_grid = grid + _upsampled_warp(params.warp, size)
    inputs = F.grid_sample(faces, warped_grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if regions is None:
        moved = transform_landmarks(landmarks, params.theta, size)
        weights, masks = region_weights(moved, size, config), face_mask(moved, size)
    else:
        moved = F.grid_sample(regions.float() / 255, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        weights, masks = weights_of(moved[:, 1:], config), moved[:, :1]
    if visible is not None:  # what is behind an occluder is neither face to render nor mask
        weights, masks = weights * visible, masks * visible
    return Batch(inputs, targets, weights, masks)
