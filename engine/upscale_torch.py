"""The guided upscaler in PyTorch, for the GPU path: the same maths as ``engine.upscale`` (float32 throughout).

Box filters are an average pool over a reflect-101 padded picture (OpenCV's default border), the
enlargement is ``interpolate(bilinear, align_corners=False)`` (OpenCV's INTER_LINEAR), so on the same
input the result equals ``GuidedUpscaler``'s to within a level (that one rounds in 16-bit fixed point).
torch is imported when the class is built, never when ``engine`` is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ConfigError
from engine.frame import Pixels, uint8_pixels
from engine.upscale import ResizeUpscaler, Upscaler, check_guided

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LUMA = (0.299, 0.587, 0.114)  # OpenCV's RGB -> grey weights


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    import torch.nn.functional as F

    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)


def guided_upsample(
    styled: torch.Tensor, guide_low: torch.Tensor, guide_full: torch.Tensor, radius: int, eps: float
) -> torch.Tensor:
    """The fast guided filter on NCHW float tensors in [0, 1]: ``styled`` (N,3,h,w) guided by ``guide_low``
    (N,C,h,w; C = 3, or 1 for a luminance guide) fitted at (h, w), applied to ``guide_full`` (N,C,H,W)."""
    import torch.nn.functional as F

    mean_g = _box(guide_low, radius)
    var_g = _box(guide_low * guide_low, radius) - mean_g * mean_g
    mean_p = _box(styled, radius)
    cov = _box(guide_low * styled, radius) - mean_g * mean_p
    a = cov / (var_g + eps)
    b = mean_p - a * mean_g
    mean_a, mean_b = _box(a, radius), _box(b, radius)
    size = guide_full.shape[-2:]
    a_up = F.interpolate(mean_a, size=size, mode="bilinear", align_corners=False)
    b_up = F.interpolate(mean_b, size=size, mode="bilinear", align_corners=False)
    return a_up * guide_full + b_up


class TorchGuidedUpscaler(Upscaler):
    """``GuidedUpscaler`` on a torch device (``cuda``, ``cuda:1``, or ``cpu``): uint8 pictures in and out."""

    name = "guided-torch"
    needs_guide = True

    def __init__(
        self, radius: int = 2, eps: float = 1e-3, guide: str = "rgb", device: str = "cuda", **_: Any
    ) -> None:
        check_guided(radius, eps, guide)
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"guided upscaler: device {device!r} asked for, but PyTorch sees no CUDA device")
        self._torch = torch
        self.device = torch.device(device)
        self.radius = radius
        self.eps = eps
        self.guide = guide
        self._fallback = ResizeUpscaler()

    def describe(self) -> str:
        return f"guided-torch on {self.device} (r={self.radius}, eps={self.eps:g}, {self.guide})"

    def _tensor(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 HxWx3 -> float 1x3xHxW in [0, 1] on the device (the upload is the uint8 picture)."""
        t = self._torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device, non_blocking=True)
        return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)

    def _luma(self, rgb: torch.Tensor) -> torch.Tensor:
        """The grey picture OpenCV's RGB2GRAY gives (rounded to whole levels), 1x1xHxW in [0, 1]."""
        r, g, b = LUMA
        y = rgb[:, 0:1] * r + rgb[:, 1:2] * g + rgb[:, 2:3] * b
        return (y * 255.0).round_().div_(255.0)

    def upscale(self, styled: Pixels, guide_low: Pixels, guide_full: Pixels | None, size: tuple[int, int]) -> Pixels:
        if (styled.shape[1], styled.shape[0]) == size:
            return styled
        if guide_full is None or (guide_full.shape[1], guide_full.shape[0]) != size:
            return self._fallback.upscale(styled, guide_low, None, size)
        torch = self._torch
        with torch.inference_mode():
            p, g_low, g_full = self._tensor(styled), self._tensor(guide_low), self._tensor(guide_full)
            if self.guide == "luma":
                g_low, g_full = self._luma(g_low), self._luma(g_full)
            q = guided_upsample(p, g_low, g_full, self.radius, self.eps)
            out = q.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous()
            return uint8_pixels(out.cpu().numpy())
