"""The interface every swap model shares, and the layers the architectures are built from.

A swap model has one encoder shared by all identities and one decoder per identity: encoding a face of A and
decoding it with B's decoder renders B with A's pose, expression and lighting. Inputs and outputs are RGB in
[0, 1], NCHW, `size` x `size`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


def downscale(in_channels: int, out_channels: int, kernel: int = 5) -> nn.Sequential:
    """Stride-2 convolution + LeakyReLU(0.1): halves the resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=2, padding=kernel // 2), nn.LeakyReLU(0.1)
    )


def upscale(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution to 4x the channels, LeakyReLU(0.1), pixel shuffle: doubles the resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels * 4, 3, padding=1), nn.LeakyReLU(0.1), nn.PixelShuffle(2)
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection, for detail at full channel count."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.activation = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.body(x))


class Bottleneck(nn.Module):
    """Flatten, dense to `latent`, dense back to a `side` x `side` x `channels` map."""

    def __init__(self, in_features: int, latent: int, side: int, channels: int) -> None:
        super().__init__()
        self.side, self.channels = side, channels
        self.squeeze = nn.Linear(in_features, latent)
        self.expand = nn.Linear(latent, side * side * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        latent = self.squeeze(torch.flatten(x, 1))
        return self.expand(latent).view(-1, self.channels, self.side, self.side)


class SwapModel(nn.Module):
    """Shared encoder + one decoder per identity. Subclasses set `encoder`, `decoders`, `size`, `has_mask`."""

    name: ClassVar[str]
    default_size: ClassVar[int]
    has_mask: ClassVar[bool] = False

    def __init__(self, identities: int, size: int) -> None:
        super().__init__()
        if identities < 2:
            raise ValueError("a swap model needs at least 2 identities")
        self.identities = identities
        self.size = size
        self.encoder: nn.Module
        self.decoders: nn.ModuleList
        self.occlusion: nn.Module | None = None  # logits of where the input face is visible (see hires)

    def decode(self, latent: torch.Tensor, identity: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder output split into (rgb, mask or None), both through a sigmoid."""
        out = torch.sigmoid(self.decoders[identity](latent))
        if self.has_mask:
            return out[:, :3], out[:, 3:4]
        return out, None

    def forward(self, x: torch.Tensor, identity: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        rgb, mask = self.decode(self.encoder(x), identity)
        if mask is not None and self.occlusion is not None:  # the rendered face's shape, where the input shows it
            mask = mask * torch.sigmoid(self.occlusion(x))
        return rgb, mask

    def config(self) -> dict[str, Any]:
        """What `create` needs to rebuild this model (written to model.json)."""
        return {"size": self.size}


def flops_per_example(model: SwapModel, forward_backward: bool = True) -> float:
    """FLOPs of one example through the encoder and one decoder, counted from the layers actually run.

    Counts multiply-adds of every convolution and dense layer (2 FLOPs each); the backward pass is taken as
    twice the forward (gradients for inputs and for weights), the usual convention.
    """
    macs = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += output[0].numel() * kernel
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks = [m.register_forward_hook(count) for m in layers]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, model.size, model.size, device=next(model.parameters()).device), 0)
    finally:
        for hook in hooks:
            hook.remove()
    return 2.0 * macs * (3 if forward_backward else 1)
