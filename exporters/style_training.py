"""Training LanternNet with perceptual losses (Johnson et al. 2016; Dumoulin et al. 2017).

Each batch pairs random content crops with random styles (one per sample, as one-hot ``style``
vectors); the losses are computed in the feature space of a frozen ImageNet network:
- content: feature reconstruction at one layer, relative to the content features' energy;
- style: Gram-matrix distance at several layers, each relative to the style Gram's energy;
- total variation;
- stability: the output for a slightly shifted, sensor-noised copy of the input must match the
  correspondingly shifted output of the clean input, so a live camera picture does not flicker.

Training is resumable (``checkpoint.pt`` holds model, optimiser, step and RNG states), writes a
contact sheet (held-out photos x styles) as it goes, and shows a progress bar with losses and it/s.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.atomic_file import write_atomic
from engine.errors import ExportError
from exporters.images import contact_sheet, list_images, load_rgb
from exporters.lossnet import gram, load_loss_network
from exporters.run_setup import start_run
from exporters.stylenet import LanternConfig, LanternNet

log = logging.getLogger(__name__)

SHIFT = 4  # pixels of shift for the stability term; crops are taken this much larger


@dataclass
class StyleTrainingConfig:
    """Everything that defines a training run; saved into checkpoints and manifests."""

    styles: list[str]
    content: list[str]
    out_dir: str
    loss_network: str
    holdout: list[str] = field(default_factory=list)
    steps: int = 4000
    batch_size: int = 4
    crop: int = 192
    content_short_side: int = 320
    style_long_side: int = 384
    lr: float = 2e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1e-4
    stability_weight: float = 2.0
    stability_noise: float = 0.03
    content_layer: str = "fire5"
    style_layers: tuple[str, ...] = ("conv1", "fire3", "fire5", "fire7")
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 100
    preview_every: int = 250
    snapshot_every: int = 1000
    width: int = 16
    body_width: int = 48
    body_blocks: int = 5

    def net_config(self) -> LanternConfig:
        return LanternConfig(
            n_styles=len(self.styles), width=self.width, body_width=self.body_width, body_blocks=self.body_blocks
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["style_layers"] = list(self.style_layers)
        return d


class ContentCrops:
    """Random crops of content photos held in memory: random scale, position and flip."""

    def __init__(self, paths: list[Path], short_side: int, rng: np.random.Generator) -> None:
        if not paths:
            raise ExportError("no content images to train on")
        self.images = [load_rgb(p, short_side=short_side) for p in paths]
        self.rng = rng

    def batch(self, n: int, size: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            img = self.images[int(self.rng.integers(len(self.images)))]
            _, h, w = img.shape
            side = int(min(h, w, size / self.rng.uniform(0.6, 1.0)))
            y = int(self.rng.integers(0, h - side + 1))
            x = int(self.rng.integers(0, w - side + 1))
            crop = img[:, y : y + side, x : x + side][None]
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            if self.rng.random() < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        return torch.cat(out).clamp(0, 1)


def _relative_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a against b, relative to b's mean square (per sample)."""
    dims = tuple(range(1, a.dim()))
    return ((a - b) ** 2).mean(dims) / (b.detach() ** 2).mean(dims).clamp_min(1e-8)


class StyleTrainer:
    """One training run: builds data, networks and optimiser, and resumes from a checkpoint if present."""

    def __init__(self, config: StyleTrainingConfig) -> None:
        self.config = config
        self.out, self.rng = start_run(config.out_dir, config.seed, config.threads)

        self.style_paths = list_images(*config.styles)
        if not self.style_paths:
            raise ExportError(f"no style images in {config.styles}")
        config.styles = [str(p) for p in self.style_paths]
        holdout = {Path(p).resolve() for p in list_images(*config.holdout)} if config.holdout else set()
        content = [p for p in list_images(*config.content) if p.resolve() not in holdout]
        self.content_paths = content
        self.holdout_paths = sorted(holdout)
        self.crops = ContentCrops(content, config.content_short_side, self.rng)

        self.lossnet = load_loss_network(config.loss_network)
        missing = [layer for layer in (*config.style_layers, config.content_layer) if layer not in self.lossnet.layers]
        if missing:
            raise ExportError(f"loss network has no layers {missing}; it has {list(self.lossnet.layers)}")
        with torch.no_grad():
            self.style_grams = []
            for p in self.style_paths:
                feats = self.lossnet(load_rgb(p, long_side=config.style_long_side)[None])
                self.style_grams.append({layer: gram(feats[layer])[0] for layer in config.style_layers})
        self.net = LanternNet(config.net_config())
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=config.steps, eta_min=config.lr * 0.05)
        self.step = 0
        self.checkpoint_path = self.out / "checkpoint.pt"
        self.history: list[dict] = []
        if self.checkpoint_path.exists():
            self._resume()
        self.preview_content = [load_rgb(p, long_side=256) for p in self.holdout_paths[:4]] or [
            load_rgb(p, long_side=256) for p in content[:3]
        ]

    # -- checkpoints -------------------------------------------------------------------------
    def _resume(self) -> None:
        try:
            ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
            self.net.load_state_dict(ckpt["model"])
            self.opt.load_state_dict(ckpt["optimizer"])
            self.sched.load_state_dict(ckpt["scheduler"])
        except Exception as exc:  # a checkpoint of another shape or a truncated file
            raise ExportError(f"{self.checkpoint_path}: cannot resume ({exc})") from exc
        self.step = int(ckpt["step"])
        self.history = ckpt.get("history", [])
        torch.set_rng_state(ckpt["torch_rng"])
        self.rng.bit_generator.state = ckpt["numpy_rng"]
        log.info("resumed %s at step %d", self.checkpoint_path, self.step)

    def save_checkpoint(self) -> None:
        ckpt = {
            "model": self.net.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.step,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "net_config": self.net.config.to_dict(),
            "train_config": self.config.to_dict(),
            "style_names": [p.stem for p in self.style_paths],
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(ckpt, tmp)
        tmp.replace(self.checkpoint_path)

    def save_weights(self, path: str | Path) -> Path:
        """A slim checkpoint for shipping: weights, network config and style names only."""
        path = Path(path)
        torch.save(
            {
                "model": self.net.state_dict(),
                "net_config": self.net.config.to_dict(),
                "style_names": [p.stem for p in self.style_paths],
                "step": self.step,
            },
            path,
        )
        return path

    # -- one step ----------------------------------------------------------------------------
    def losses(self, batch: torch.Tensor, style_idx: list[int]) -> dict[str, torch.Tensor]:
        c = self.config
        style = F.one_hot(torch.tensor(style_idx), len(self.style_paths)).float()
        x = batch[:, :, SHIFT : SHIFT + c.crop, SHIFT : SHIFT + c.crop]
        y = self.net(x, style)
        feats_y = self.lossnet(y)
        with torch.no_grad():
            feats_x = self.lossnet(x)
        content = _relative_mse(feats_y[c.content_layer], feats_x[c.content_layer]).mean()
        style_loss = y.new_zeros(())
        for layer in c.style_layers:
            g = gram(feats_y[layer])
            target = torch.stack([self.style_grams[i][layer] for i in style_idx])
            style_loss = style_loss + _relative_mse(g, target).mean()
        style_loss = style_loss / len(c.style_layers)
        tv = (y[:, :, 1:, :] - y[:, :, :-1, :]).abs().mean() + (y[:, :, :, 1:] - y[:, :, :, :-1]).abs().mean()
        out = {"content": content, "style": style_loss, "tv": tv}
        if c.stability_weight > 0:
            dy, dx = (int(v) for v in self.rng.integers(0, SHIFT + 1, size=2))
            shifted = batch[:, :, SHIFT + dy : SHIFT + dy + c.crop, SHIFT + dx : SHIFT + dx + c.crop]
            sigma = float(self.rng.uniform(0.3, 1.0)) * c.stability_noise
            noisy = (shifted + torch.randn_like(shifted) * sigma).clamp(0, 1)
            y2 = self.net(noisy, style)
            # y2[i, j] sees the pixel that y saw at [i + dy, j + dx]
            h, w = c.crop - dy, c.crop - dx
            out["stability"] = ((y2[:, :, :h, :w] - y[:, :, dy : dy + h, dx : dx + w]) ** 2).mean()
        return out

    def total(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        c = self.config
        t = c.content_weight * parts["content"] + c.style_weight * parts["style"] + c.tv_weight * parts["tv"]
        if "stability" in parts:
            t = t + c.stability_weight * 100.0 * parts["stability"]
        return t

    def train_step(self) -> dict[str, float]:
        c = self.config
        self.net.train()
        batch = self.crops.batch(c.batch_size, c.crop + SHIFT * 2)
        style_idx = [int(v) for v in self.rng.integers(0, len(self.style_paths), size=c.batch_size)]
        parts = self.losses(batch, style_idx)
        loss = self.total(parts)
        if not torch.isfinite(loss):
            raise ExportError(f"loss became {loss.item()} at step {self.step}; lower the learning rate")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.opt.step()
        self.sched.step()
        self.step += 1
        return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()}}

    @torch.no_grad()
    def preview(self, path: str | Path | None = None) -> Path:
        """Contact sheet: one row per preview photo, the photo then every style."""
        self.net.eval()
        n = len(self.style_paths)
        rows = []
        styles_row = [torch.zeros(3, 8, 8)] + [load_rgb(p, long_side=256) for p in self.style_paths]
        rows.append(styles_row)
        for img in self.preview_content:
            outs = self.net(img[None].repeat(n, 1, 1, 1), torch.eye(n))
            rows.append([img] + list(outs))
        return contact_sheet(rows, path or self.out / "preview.png")

    def run(self, progress: bool = True) -> None:
        from tqdm import tqdm

        c = self.config
        bar = tqdm(total=c.steps, initial=self.step, disable=not progress, dynamic_ncols=True, desc="train-style")
        ema: dict[str, float] = {}
        t0 = time.monotonic()
        while self.step < c.steps:
            values = self.train_step()
            for k, v in values.items():
                ema[k] = v if k not in ema else 0.95 * ema[k] + 0.05 * v
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in ema.items()})
            if self.step % 10 == 0:
                self.history.append({"step": self.step, "seconds": round(time.monotonic() - t0, 1), **ema})
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                self.save_checkpoint()
            if self.step % c.preview_every == 0 or self.step == c.steps:
                self.preview()
            if c.snapshot_every and self.step % c.snapshot_every == 0:
                self.save_weights(self.out / f"weights_step{self.step:06d}.pt")
        bar.close()
        write_atomic(self.out / "history.json", json.dumps(self.history, indent=1))
