"""Reconstruction losses as per-pixel maps, so the landmark region weights can scale every term alike.

A loss spec is a `+`-joined list of terms, e.g. "ssim+l1" (the default), "mse", "ssim+l1+edge". The mask
loss (for models with a learned mask) is separate: "mse" or "bce" against the landmark face mask.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from swapcore.errors import SwapcoreError

PixelLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (pred, target) N x C x H x W -> N x 1 x H x W

_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5
_C1, _C2 = 0.01**2, 0.03**2


class LossSpecError(SwapcoreError):
    """A loss name that is not known."""


def _gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 11-tap Gaussian (sigma 1.5), per channel, 'same' size with reflected borders."""
    offsets = torch.arange(_SSIM_WINDOW, dtype=x.dtype, device=x.device) - _SSIM_WINDOW // 2
    kernel = torch.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    pad = _SSIM_WINDOW // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def ssim_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004), averaged over channels: N x 1 x H x W, 1 = identical."""
    stats = _gaussian_blur(torch.cat([pred, target, pred * pred, target * target, pred * target], 1))
    mu_p, mu_t, pp, tt, pt = stats.chunk(5, 1)
    var_p, var_t, cov = pp - mu_p**2, tt - mu_t**2, pt - mu_p * mu_t
    numerator = (2 * mu_p * mu_t + _C1) * (2 * cov + _C2)
    denominator = (mu_p**2 + mu_t**2 + _C1) * (var_p + var_t + _C2)
    return (numerator / denominator).mean(1, keepdim=True)


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (1 - ssim_map(pred, target)) / 2


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean(1, keepdim=True)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).mean(1, keepdim=True)


def edge_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the images' horizontal and vertical gradients (sharpness of edges)."""
    error = pred - target
    dx = F.pad((error[..., :, 1:] - error[..., :, :-1]).abs(), (0, 1, 0, 0))
    dy = F.pad((error[..., 1:, :] - error[..., :-1, :]).abs(), (0, 0, 0, 1))
    return (dx + dy).mean(1, keepdim=True)


TERMS: dict[str, PixelLoss] = {"ssim": ssim_loss, "l1": l1_loss, "mse": mse_loss, "edge": edge_loss}
MASK_LOSSES = ("mse", "bce")


def parse_spec(spec: str) -> list[PixelLoss]:
    names = [name.strip() for name in spec.lower().split("+") if name.strip()]
    unknown = [name for name in names if name not in TERMS]
    if not names or unknown:
        raise LossSpecError(f"unknown loss {spec!r}: join terms from {', '.join(TERMS)} with '+' (e.g. ssim+l1)")
    return [TERMS[name] for name in names]


def reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, terms: list[PixelLoss]
) -> torch.Tensor:
    """Sum of the terms, each a region-weighted mean over pixels: one value per example (N)."""
    pixel = sum(term(pred, target) for term in terms)
    return (pixel * weights).flatten(1).sum(1) / weights.flatten(1).sum(1)


def mask_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example loss of a predicted mask against the landmark face mask."""
    if kind == "bce":
        return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target, reduction="none").flatten(1).mean(1)
    if kind == "mse":
        return ((pred - target) ** 2).flatten(1).mean(1)
    raise LossSpecError(f"unknown mask loss {kind!r}; choose one of {', '.join(MASK_LOSSES)}")
