"""The guided upscaler in PyTorch, for the GPU path: the same maths as ``engine.upscale`` (float32 throughout).

Box filters are an average pool over a reflect-101 padded picture (OpenCV's default border), the
enlargement is ``interpolate(bilinear, align_corners=False)`` (OpenCV's INTER_LINEAR), so on the same
input the result equals ``GuidedUpscaler``'s to within a level (that one rounds in 16-bit fixed point).
torch is imported when the class is built, never when ``engine`` is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ConfigError
from engine.frame import Pixels, uint8_pixels
from engine.upscale import A_LIMIT, GuidedBase

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LUMA = (0.299, 0.587, 0.114)  # OpenCV's RGB -> grey weights


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    import torch.nn.functional as F

    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)


def _gain(g: torch.Tensor, p: torch.Tensor, radius: int, eps: float) -> tuple[torch.Tensor, ...]:
    """(A, mean A, mean I, mean p) of the guided filter on NCHW tensors."""
    mean_g = _box(g, radius)
    var_g = _box(g * g, radius) - mean_g * mean_g
    mean_p = _box(p, radius)
    cov = _box(g * p, radius) - mean_g * mean_p
    a = cov / (var_g + eps)
    return a, _box(a, radius), mean_g, mean_p


def detail_gain(
    styled: torch.Tensor, guide_low: torch.Tensor, radius: int, eps: float, detail: float = 1.0, coarse: int = 1
) -> torch.Tensor:
    """The detail form's gain ``A'`` at the working size, as ``engine.upscale.detail_gain``: ``styled`` and
    ``guide_low`` are NCHW in [0, 1] with as many channels as gains wanted (3, or 1 for brightness)."""
    import torch.nn.functional as F

    if coarse > 1:
        h, w = styled.shape[-2:]
        size = (max(1, h // coarse), max(1, w // coarse))
        g_c = F.interpolate(guide_low, size=size, mode="area")
        p_c = F.interpolate(styled, size=size, mode="area")
        _, mean_a_c, _, _ = _gain(g_c, p_c, max(1, round(radius / coarse)), eps)
        mean_a = F.interpolate(mean_a_c, size=(h, w), mode="bilinear", align_corners=False)
    else:
        _, mean_a, _, _ = _gain(guide_low, styled, radius, eps)
    return (mean_a * detail).clamp(-A_LIMIT, A_LIMIT)


def guided_coefficients(
    styled: torch.Tensor, guide_low: torch.Tensor, radius: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The published filter's (mean A, mean b) at the working size, as ``engine.upscale.guided_coefficients``."""
    a, mean_a, mean_g, mean_p = _gain(guide_low, styled, radius, eps)
    return mean_a.clamp(-A_LIMIT, A_LIMIT), _box(mean_p - a * mean_g, radius)


def _up(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    import torch.nn.functional as F

    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def guided_upsample(
    styled: torch.Tensor,
    guide_low: torch.Tensor,
    guide_full: torch.Tensor,
    radius: int,
    eps: float,
    form: str = "filter",
    detail: float = 1.0,
    coarse: int = 1,
    styled_fit: torch.Tensor | None = None,
) -> torch.Tensor:
    """The guided upscaler on NCHW float tensors in [0, 1]: ``styled`` (N,3,h,w) guided by ``guide_low``
    (N,C,h,w; C = 3, or 1 for a luminance guide) fitted at (h, w), applied to ``guide_full`` (N,C,H,W).

    The detail form with ``styled_fit`` (the brightness of ``styled``: one gain, for a luminance guide) is
    ``up(p) + A'_up * (I_full - up(I_low))`` with the enlarged ``p`` rounded to whole levels, as the CPU
    version's 8-bit enlargement does (the guide's enlargement is not rounded: the CPU keeps 1/16 levels).
    Without it (per colour) it is ``A'_up * I_full + b'_up`` with ``b' = p - A' * I_low``, as the CPU
    computes that case."""
    size = guide_full.shape[-2:]
    if form == "detail":
        if styled_fit is None:  # per colour: A'_up * I_full + b'_up, b' = p - A' * I_low, as the CPU computes it
            a = detail_gain(styled, guide_low, radius, eps, detail, coarse)
            return _up(a, size) * guide_full + _up(styled - a * guide_low, size)
        a = detail_gain(styled_fit, guide_low, radius, eps, detail, coarse)
        p_up = (_up(styled, size) * 255.0).round_()
        return (p_up + _up(a, size) * (guide_full - _up(guide_low, size)) * 255.0).div_(255.0)
    a, b = guided_coefficients(styled, guide_low, radius, eps)
    return _up(a, size) * guide_full + _up(b, size)


class TorchGuidedUpscaler(GuidedBase):
    """``GuidedUpscaler`` on a torch device (``cuda``, ``cuda:1``, or ``cpu``): uint8 pictures in and out."""

    name = "guided-torch"

    def __init__(
        self,
        radius: int = 4,
        eps: float = 1e-3,
        guide: str = "luma",
        form: str = "detail",
        detail: float = 2.0,
        coarse: int = 2,
        device: str = "cuda",
    ) -> None:
        super().__init__(radius, eps, guide, form, detail, coarse)
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"guided upscaler: device {device!r} asked for, but PyTorch sees no CUDA device")
        self._torch = torch
        self.device = torch.device(device)

    def describe(self) -> str:
        return f"guided-torch {self.form} on {self.device} (r={self.radius}, eps={self.eps:g}, {self.guide})"

    def _tensor(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 HxWx3 -> float 1x3xHxW in [0, 1] on the device (the upload is the uint8 picture)."""
        t = self._torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device, non_blocking=True)
        return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)

    def _luma(self, rgb: torch.Tensor) -> torch.Tensor:
        """The grey picture OpenCV's RGB2GRAY gives (rounded to whole levels), 1x1xHxW in [0, 1]."""
        r, g, b = LUMA
        y = rgb[:, 0:1] * r + rgb[:, 1:2] * g + rgb[:, 2:3] * b
        return (y * 255.0).round_().div_(255.0)

    def apply(self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray) -> Pixels:
        torch = self._torch
        with torch.inference_mode():
            p, g_low, g_full = self._tensor(styled), self._tensor(guide_low), self._tensor(guide_full)
            p_fit = None
            if self.guide == "luma":
                g_low, g_full = self._luma(g_low), self._luma(g_full)
                p_fit = self._luma(p) if self.form == "detail" else None  # one gain, fitted on brightness
            q = guided_upsample(
                p, g_low, g_full, self.radius, self.eps, self.form, self.detail, self.coarse, styled_fit=p_fit
            )
            out = q.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous()
            return uint8_pixels(out.cpu().numpy())
