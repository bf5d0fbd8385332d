"""Laterna's feed-forward, multi-style network (``LanternNet``).

One network holds N styles through conditional instance normalisation (Dumoulin et al. 2017,
"A Learned Representation for Artistic Style"): every normalisation layer owns a table of N
(scale, shift) pairs, and the ``style`` input (a weight per style) mixes the tables, so any blend
of styles is one forward pass.

The layout is chosen for a two-core CPU and scales on a GPU:
- two strided convolutions take the picture to 1/4 resolution straight away;
- the residual body runs there with depthwise-separable convolutions and few channels;
- instance normalisation sits only at 1/4 resolution, where it is cheap;
- the decoder upsamples with nearest-neighbour + convolution (no checkerboard artefacts) and the
  last layer is a plain convolution followed by a sigmoid, so output is RGB in [0, 1].

Input ``image``: float32 NCHW RGB in [0, 1], any height and width (padded internally to a multiple
of 4 and cropped back). Input ``style``: float32 [N, n_styles]. Output ``stylized``: like ``image``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4


@dataclass(frozen=True)
class LanternConfig:
    """The shape of a LanternNet; stored in checkpoints and manifests."""

    n_styles: int = 8
    width: int = 16  # channels at 1/2 resolution
    body_width: int = 48  # channels of the residual body at 1/4 resolution
    body_blocks: int = 5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LanternConfig:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a style-weighted mix of per-style tables."""

    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n_styles, channels))
        self.shift = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5)
        scale = (style @ self.scale)[:, :, None, None]
        shift = (style @ self.shift)[:, :, None, None]
        return x * scale + shift


class SeparableConv(nn.Module):
    """Depthwise 3x3 followed by a pointwise 1x1 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """Two separable convolutions with conditional instance norm and an identity skip."""

    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.conv1 = SeparableConv(channels)
        self.norm1 = ConditionalInstanceNorm(channels, n_styles)
        self.conv2 = SeparableConv(channels)
        self.norm2 = ConditionalInstanceNorm(channels, n_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), style))
        y = self.norm2(self.conv2(y), style)
        return x + y


class LanternNet(nn.Module):
    """Multi-style feed-forward stylisation network; see the module docstring."""

    __constants__ = ["stride"]

    def __init__(self, config: LanternConfig = LanternConfig()) -> None:
        super().__init__()
        self.config = config
        self.stride = STRIDE
        w, s = config.width, config.n_styles
        body = config.body_width
        self.enc1 = nn.Conv2d(3, w, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(w, body, 3, stride=2, padding=1)
        self.enc2_norm = ConditionalInstanceNorm(body, s)
        self.body = nn.ModuleList(ResidualBlock(body, s) for _ in range(config.body_blocks))
        self.dec1_dw = nn.Conv2d(body, body, 3, padding=1, groups=body)
        self.dec1_pw = nn.Conv2d(body, w, 1)
        self.out = nn.Conv2d(w, 3 * 4, 3, padding=1)

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        pad_h = (self.stride - h % self.stride) % self.stride
        pad_w = (self.stride - w % self.stride) % self.stride
        x = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
        x = F.relu(self.enc1(x))
        x = F.relu(self.enc2_norm(self.enc2(x), style))
        for block in self.body:
            x = block(x, style)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.relu(self.dec1_pw(self.dec1_dw(x)))
        x = torch.sigmoid(F.pixel_shuffle(self.out(x), 2))
        return x[:, :, :h, :w]
