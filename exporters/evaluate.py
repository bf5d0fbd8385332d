"""Measurements of a trained style network that go into its manifest and the README.

- ``gram_distances``: per style, the SqueezeNet Gram-matrix distance between held-out photos and
  the style image, before and after stylisation (it must drop for every style);
- ``flicker``: mean absolute frame-to-frame change of the output (0..255 units) on a static scene
  with simulated sensor noise, the number a temporal-stability term should lower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from exporters.images import load_rgb
from exporters.lossnet import SQUEEZENET_LAYERS, gram


@torch.no_grad()
def gram_distances(
    net: torch.nn.Module,
    lossnet: torch.nn.Module,
    style_paths: list[Path],
    photos: list[torch.Tensor],
    layers: tuple[str, ...] = SQUEEZENET_LAYERS[:4],
    style_long_side: int = 384,
) -> list[dict]:
    """For each style: mean over photos of the relative Gram distance before and after stylisation."""
    net.eval()
    n = len(style_paths)
    rows = []
    photo_grams = [{layer: gram(f) for layer, f in lossnet(p[None]).items() if layer in layers} for p in photos]
    for i, sp in enumerate(style_paths):
        feats = lossnet(load_rgb(sp, long_side=style_long_side)[None])
        target = {layer: gram(f) for layer, f in feats.items() if layer in layers}
        style = torch.zeros(1, n)
        style[0, i] = 1.0
        before, after = [], []
        for p, pg in zip(photos, photo_grams):
            out_grams = {layer: gram(f) for layer, f in lossnet(net(p[None], style)).items() if layer in layers}
            before.append(_rel(pg, target, layers))
            after.append(_rel(out_grams, target, layers))
        b, a = float(np.mean(before)), float(np.mean(after))
        rows.append({"style": sp.stem, "before": round(b, 4), "after": round(a, 4), "ratio": round(a / b, 3)})
    return rows


def _rel(g: dict, target: dict, layers: tuple[str, ...]) -> float:
    return float(np.mean([((g[k] - target[k]) ** 2).sum().item() / (target[k] ** 2).sum().item() for k in layers]))


@torch.no_grad()
def flicker(
    net: torch.nn.Module, photos: list[torch.Tensor], n_styles: int, frames: int = 6, noise: float = 0.02, seed: int = 0
) -> dict:
    """Mean |out_t - out_{t-1}| * 255 over frames of static photos with Gaussian sensor noise."""
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    out_changes, in_changes = [], []
    for photo, s in ((p, s) for p in photos for s in range(n_styles)):
        style = torch.zeros(1, n_styles)
        style[0, s] = 1.0
        prev_out = prev_in = None
        for _ in range(frames):
            x = (photo[None] + torch.randn(photo[None].shape, generator=gen) * noise).clamp(0, 1)
            y = net(x, style)
            if prev_out is not None and prev_in is not None:
                out_changes.append((y - prev_out).abs().mean().item() * 255)
                in_changes.append((x - prev_in).abs().mean().item() * 255)
            prev_out, prev_in = y, x
    return {
        "output": round(float(np.mean(out_changes)), 3),
        "input": round(float(np.mean(in_changes)), 3),
        "noise_sigma": noise,
        "frames": frames,
        "photos": len(photos),
        "styles": n_styles,
    }
