"""A small DCGAN-family GAN for CPU training: networks, DiffAugment, hinge losses, EMA.

- ``Generator``: dense -> reshape to 4x4 -> (nearest upsample x2, 3x3 conv, batch norm, ReLU) per
  doubling -> 3x3 conv -> tanh. Pixels come out in [-1, 1].
- ``Discriminator``: strided 4x4 convolutions with spectral norm and leaky ReLU, then a dense layer
  to one logit (Miyato et al. 2018: spectral norm keeps a small D from overpowering G).
- ``diff_augment``: differentiable colour, translation and cutout applied to real *and* generated
  images before D sees them (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training"), so D cannot memorise eight paintings.
- ``hinge_d_loss`` / ``hinge_g_loss``: the hinge adversarial loss.
- ``EMA``: an exponential moving average of G's weights, the generator that gets sampled and shipped.
- ``recalibrate_batchnorm``: recompute G's batch-norm statistics for the averaged weights.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from engine.errors import ExportError

AUGMENTATIONS = ("color", "translation", "cutout")


@dataclass
class GanConfig:
    """The shape of both networks; saved in checkpoints and manifests."""

    latent_dim: int = 64
    size: int = 64  # output side in pixels: a power of two, at least 8
    g_width: int = 128  # channels at 4x4; halved at every doubling, never below g_min_width
    g_min_width: int = 16
    d_width: int = 16  # channels of D's first layer; doubled at every halving, never above d_max_width
    d_max_width: int = 256

    def __post_init__(self) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ExportError(f"GAN size must be a power of two >= 8, got {self.size}")
        if self.latent_dim < 1:
            raise ExportError(f"latent_dim must be positive, got {self.latent_dim}")

    @property
    def doublings(self) -> int:
        return int(math.log2(self.size)) - 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GanConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Generator(nn.Module):
    """Latent (N, Z) -> RGB image (N, 3, size, size) in [-1, 1]."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        self.config = config
        c = config.g_width
        self.c0 = c
        self.dense = nn.Linear(config.latent_dim, c * 16, bias=False)
        self.dense_norm = nn.BatchNorm1d(c * 16)
        blocks = []
        for _ in range(config.doublings):
            out = max(config.g_min_width, c // 2)
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            c = out
        self.blocks = nn.Sequential(*blocks)
        self.to_rgb = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.dense_norm(self.dense(z))).view(-1, self.c0, 4, 4)
        return torch.tanh(self.to_rgb(self.blocks(x)))


class Discriminator(nn.Module):
    """RGB image (N, 3, size, size) in [-1, 1] -> one logit per image (N,)."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        cin, c = 3, config.d_width
        for _ in range(config.doublings):  # size -> 4
            layers += [spectral_norm(nn.Conv2d(cin, c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            cin, c = c, min(config.d_max_width, c * 2)
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(cin * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(1)


# -- DiffAugment ---------------------------------------------------------------------------------
def _color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros (mid-grey in [-1, 1])."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gy = torch.clamp(gy + ty + 1, 0, h + 1)
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of ``ratio`` times the image side in each image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    dy, dx = ys - oy + ch // 2, xs - ox + cw // 2  # position inside the square, if in [0, side)
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_AUGMENT = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] = AUGMENTATIONS) -> torch.Tensor:
    """Apply the differentiable augmentations named in ``policy``, in order, with fresh randomness per image.

    Gradients flow through every operation, so G learns through the augmented view D judges."""
    for name in policy:
        try:
            x = _AUGMENT[name](x)
        except KeyError:
            raise ExportError(f"unknown augmentation {name!r}; expected some of {AUGMENTATIONS}") from None
    return x.contiguous()


# -- losses --------------------------------------------------------------------------------------
def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's hinge loss: push real logits above +1 and fake logits below -1."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's hinge loss: raise D's logits on generated images."""
    return -fake_logits.mean()


# -- averaged generator --------------------------------------------------------------------------
class EMA:
    """An exponential moving average of a model's parameters; buffers are copied as they are."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ExportError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        d = self.decay if decay is None else decay
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - d)
        for avg_b, b in zip(self.model.buffers(), model.buffers()):
            avg_b.copy_(b)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


@torch.no_grad()
def recalibrate_batchnorm(generator: Generator, batches: int = 16, batch_size: int = 64, seed: int = 0) -> Generator:
    """Recompute the batch-norm running statistics of ``generator`` from its own outputs.

    Averaged (EMA) weights do not match the statistics collected while training the raw G; a few
    forward passes in training mode with a cumulative average fix that. Deterministic for a seed."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return generator
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, generator.config.latent_dim, generator=rng))
    for m, mom in zip(norms, saved):
        m.momentum = mom
    generator.train(was_training)
    return generator


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
