"""Training the generator adversarially on random crops of a few paintings, and measuring it.

Each step takes a batch of random crops (random scale, position and flip) of the images, and one
batch of generated images; D takes a hinge-loss step on DiffAugment-ed views of both, then G takes
one step against the updated D, and the EMA generator is updated. The EMA generator is what gets
sampled, measured and shipped.

Sample quality is tracked with a kernel inception distance (KID, Binkowski et al. 2018) computed in
the feature space of the SqueezeNet loss network instead of Inception: ``fire9`` (or ``fire7``)
features, averaged over space, compared between a fixed set of real crops and images from fixed
latents by the unbiased MMD^2 with the polynomial kernel ``(x.y / d + 1)^3``, averaged over subsets.
Lower is better; 0 means the two sets are indistinguishable to that network.

Training is resumable (``checkpoint.pt`` holds G, D, the EMA G, both optimisers, step, history and
RNG states), writes ``samples.png`` (a grid of EMA samples from fixed latents) and ``kid.png`` (KID
over training) as it goes, and shows a progress bar with the losses, the last KID and it/s.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from engine.atomic_file import write_atomic
from engine.errors import ExportError
from exporters.gan import (
    AUGMENTATIONS,
    EMA,
    Discriminator,
    GanConfig,
    Generator,
    diff_augment,
    hinge_d_loss,
    hinge_g_loss,
    recalibrate_batchnorm,
)
from exporters.images import list_images, load_rgb
from exporters.run_setup import start_run

log = logging.getLogger(__name__)


@dataclass
class GanTrainingConfig:
    """Everything that defines a generator training run; saved into checkpoints and manifests."""

    images: list[str]
    out_dir: str
    loss_network: str = ""  # SqueezeNet .npz for KID; empty = no KID
    steps: int = 16000
    size: int = 64
    batch_size: int = 16
    latent_dim: int = 64
    g_width: int = 128
    d_width: int = 24
    lr_g: float = 1e-4  # two time-scale update rule: D learns faster than G (Heusel et al. 2017)
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    ema_decay: float = 0.999
    augment: tuple[str, ...] = AUGMENTATIONS
    short_side: int = 192  # paintings are held in memory at this short side
    crop_min: float = 0.3  # crop side as a fraction of the painting's short side
    crop_max: float = 0.75
    seed: int = 0
    threads: int = 0
    max_minutes: float = 0.0  # stop (with checkpoint, samples and KID) after this much wall time; 0 = no limit
    checkpoint_every: int = 250
    sample_every: int = 500
    kid_every: int = 1000
    kid_samples: int = 200
    kid_layer: str = "fire9"
    kid_resolution: int = 128

    def gan_config(self) -> GanConfig:
        return GanConfig(latent_dim=self.latent_dim, size=self.size, g_width=self.g_width, d_width=self.d_width)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["augment"] = list(self.augment)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> GanTrainingConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        if "augment" in d:
            d["augment"] = tuple(d["augment"])
        return cls(**d)


class PaintingCrops:
    """Random square crops of images held in memory: random scale, position and flip, pixels in [-1, 1]."""

    def __init__(
        self, paths: list[Path], short_side: int, crop_range: tuple[float, float], rng: np.random.Generator
    ) -> None:
        if not paths:
            raise ExportError("no images to train the generator on")
        self.paths = paths
        self.images = [load_rgb(p, short_side=short_side) for p in paths]
        self.crop_range = crop_range
        self.rng = rng

    def batch(self, n: int, size: int) -> torch.Tensor:
        out = []
        lo, hi = self.crop_range
        for _ in range(n):
            img = self.images[int(self.rng.integers(len(self.images)))]
            _, h, w = img.shape
            side = max(8, min(h, w, int(round(min(h, w) * self.rng.uniform(lo, hi)))))
            y = int(self.rng.integers(0, h - side + 1))
            x = int(self.rng.integers(0, w - side + 1))
            crop = img[:, y : y + side, x : x + side][None]
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            if self.rng.random() < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        return torch.cat(out).clamp(0, 1) * 2.0 - 1.0


# -- KID -----------------------------------------------------------------------------------------
class KernelDistance:
    """KID in SqueezeNet feature space: pooled ``layer`` features of [-1, 1] images, compared by MMD^2."""

    def __init__(self, loss_network: str | Path, layer: str = "fire9", resolution: int = 128) -> None:
        from exporters.lossnet import load_loss_network

        self.net = load_loss_network(loss_network)
        if layer not in self.net.layers:
            raise ExportError(f"KID layer {layer!r} is not one of the loss network's layers {list(self.net.layers)}")
        self.layer = layer
        self.resolution = resolution
        self.scale: float | None = None  # fixed from the first (real) set, so values are comparable over time

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch: int = 50) -> torch.Tensor:
        """(N, C) features of (N, 3, H, W) images in [-1, 1], spatially averaged."""
        out = []
        for i in range(0, images.shape[0], batch):
            x = (images[i : i + batch].float().clamp(-1, 1) + 1.0) / 2.0
            if x.shape[-1] != self.resolution:
                x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
            out.append(self.net(x)[self.layer].mean(dim=(2, 3)))
        feats = torch.cat(out).double()
        if self.scale is None:  # features of unit RMS make x.y/d about 1, as the KID kernel expects
            self.scale = float(feats.pow(2).mean().sqrt().clamp_min(1e-8))
        return feats / self.scale


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 between two feature sets with the kernel (x.y / d + 1)^3."""
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    if m < 2 or n < 2:
        raise ExportError("KID needs at least two samples on each side")
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    return float(
        (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
        + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kid(
    real: torch.Tensor, fake: torch.Tensor, subsets: int = 10, subset_size: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and standard deviation of the unbiased MMD^2 over random subsets of the two sets."""
    m = min(subset_size, real.shape[0], fake.shape[0])
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        ri = torch.randperm(real.shape[0], generator=g)[:m]
        fi = torch.randperm(fake.shape[0], generator=g)[:m]
        values.append(polynomial_mmd2(real[ri], fake[fi]))
    arr = np.array(values)
    return float(arr.mean()), float(arr.std())


def real_kid_floor(config: GanTrainingConfig) -> tuple[float, float]:
    """KID between the run's fixed real crops and a second, independent set of real crops.

    What a perfect generator would score with the same number of samples: the floor of the curve.
    Uses the same crops and feature scale as the run's own KID, so the numbers compare directly."""
    metric = KernelDistance(config.loss_network, config.kid_layer, config.kid_resolution)
    paths = list_images(*config.images)
    n = max(config.kid_samples, 2)
    sets = [
        PaintingCrops(
            paths, config.short_side, (config.crop_min, config.crop_max), np.random.default_rng(config.seed + k)
        ).batch(n, config.size)
        for k in (2, 3)
    ]
    first = metric.features(sets[0])  # fixes the feature scale exactly as the run's first KID did
    return kid(first, metric.features(sets[1]), seed=config.seed)


# -- pictures ------------------------------------------------------------------------------------
def write_grid(images: torch.Tensor, path: str | Path, columns: int = 8, scale: int = 2, gap: int = 2) -> Path:
    """Write (N, 3, H, W) images in [-1, 1] as one PNG grid, each tile enlarged ``scale`` times."""
    n, _, h, w = images.shape
    rows = math.ceil(n / columns)
    th, tw = h * scale, w * scale
    sheet = Image.new("RGB", (columns * (tw + gap) + gap, rows * (th + gap) + gap), (24, 24, 24))
    pixels = ((images.detach().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    for i, px in enumerate(pixels):
        tile = Image.fromarray(px).resize((tw, th), Image.Resampling.LANCZOS)
        sheet.paste(tile, (gap + (i % columns) * (tw + gap), gap + (i // columns) * (th + gap)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo if hi > lo else 1.0
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def plot_kid(
    points: list[dict],
    path: str | Path,
    title: str = "KID over training",
    size: tuple[int, int] = (720, 420),
    floor: float | None = None,
) -> Path:
    """A line plot (PIL, no plotting library) of ``kid`` (with +-``kid_std`` bars) against ``step``;
    ``floor`` (real crops against other real crops) is drawn as a dashed line."""
    width, height = size
    left, right, top, bottom = 78, 20, 40, 52
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    draw.text((left, 12), title, fill="black", font=font)
    pw, ph = width - left - right, height - top - bottom
    draw.rectangle([left, top, left + pw, top + ph], outline="black")
    if points:
        steps = [float(p["step"]) for p in points]
        vals = [float(p["kid"]) for p in points]
        stds = [float(p.get("kid_std", 0.0)) for p in points]
        x0, x1 = 0.0, max(steps) if max(steps) > 0 else 1.0
        y0 = min(0.0, min(v - s for v, s in zip(vals, stds)), floor if floor is not None else 0.0)
        y1 = max(v + s for v, s in zip(vals, stds))
        y1 = y1 + 0.05 * (y1 - y0) if y1 > y0 else y0 + 1.0
        fx = lambda v: left + (v - x0) / (x1 - x0) * pw  # noqa: E731
        fy = lambda v: top + ph - (v - y0) / (y1 - y0) * ph  # noqa: E731
        for t in _nice_ticks(y0, y1):
            y = fy(t)
            draw.line([left, y, left + pw, y], fill=(225, 225, 225))
            draw.line([left - 4, y, left, y], fill="black")
            label = f"{t:.3g}"
            draw.text((left - 8 - draw.textlength(label, font=font), y - 6), label, fill="black", font=font)
        for t in _nice_ticks(x0, x1):
            x = fx(t)
            draw.line([x, top + ph, x, top + ph + 4], fill="black")
            label = f"{int(t)}"
            draw.text((x - draw.textlength(label, font=font) / 2, top + ph + 8), label, fill="black", font=font)
        if floor is not None:
            y = fy(floor)
            for x in range(left, left + pw, 12):
                draw.line([x, y, min(x + 6, left + pw), y], fill=(120, 120, 120), width=2)
            draw.text((left + 6, y - 14), f"real vs real crops: {floor:.3g}", fill=(90, 90, 90), font=font)
        for s, v, e in zip(steps, vals, stds):
            if e > 0:
                draw.line([fx(s), fy(v - e), fx(s), fy(v + e)], fill=(150, 170, 220), width=1)
        xy = [(fx(s), fy(v)) for s, v in zip(steps, vals)]
        if len(xy) > 1:
            draw.line(xy, fill=(40, 80, 190), width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(40, 80, 190))
        last = points[-1]
        note = f"last: {last['kid']:.4g} at step {int(last['step'])}"
        draw.text((left + pw - draw.textlength(note, font=font) - 6, top + 6), note, fill=(40, 80, 190), font=font)
    xl = "training step"
    draw.text((left + pw / 2 - draw.textlength(xl, font=font) / 2, height - 20), xl, fill="black", font=font)
    draw.text((6, top - 16), "KID (lower is better)", fill="black", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


# -- the trainer ---------------------------------------------------------------------------------
@dataclass
class StepResult:
    """What one training step did: both losses and the mean logits D gave real and generated crops."""

    d_loss: float
    g_loss: float
    real_logit: float
    fake_logit: float


class GanTrainer:
    """One training run: data, G, D, EMA G and optimisers; resumes from ``out_dir/checkpoint.pt`` if present."""

    def __init__(self, config: GanTrainingConfig) -> None:
        self.config = config
        self.out, self.rng = start_run(config.out_dir, config.seed, config.threads)
        self.paths = list_images(*config.images)
        if not self.paths:
            raise ExportError(f"no images in {config.images}")
        crop_range = (config.crop_min, config.crop_max)
        self.crops = PaintingCrops(self.paths, config.short_side, crop_range, self.rng)

        gan = config.gan_config()
        self.g = Generator(gan)
        self.d = Discriminator(gan)
        self.ema = EMA(self.g, config.ema_decay)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=betas)
        self.step = 0
        self.elapsed_s = 0.0
        self.history: list[dict] = []  # smoothed losses every 10 steps
        self.kid_history: list[dict] = []
        self.checkpoint_path = self.out / "checkpoint.pt"
        # Fixed latents for the sample grid and KID, from their own generator: they never move.
        fixed = torch.Generator().manual_seed(config.seed + 1)
        self.sample_latents = torch.randn(64, config.latent_dim, generator=fixed)
        self.kid_latents = torch.randn(max(config.kid_samples, 2), config.latent_dim, generator=fixed)
        self._kid: KernelDistance | None = None
        self._real_features: torch.Tensor | None = None
        self._calibrated_at = -1
        self.kid_floor: float | None = None  # KID of real crops against other real crops
        if self.checkpoint_path.exists():
            self._resume()

    # -- checkpoints -------------------------------------------------------------------------
    def _resume(self) -> None:
        try:
            ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
            if ckpt["gan_config"] != self.g.config.to_dict():
                raise ExportError(
                    f"it was trained with {ckpt['gan_config']}, this run asks for {self.g.config.to_dict()}"
                )
            self.g.load_state_dict(ckpt["generator"])
            self.d.load_state_dict(ckpt["discriminator"])
            self.ema.load_state_dict(ckpt["generator_ema"])
            self.opt_g.load_state_dict(ckpt["opt_g"])
            self.opt_d.load_state_dict(ckpt["opt_d"])
        except Exception as exc:  # another shape, a truncated file, a foreign checkpoint
            raise ExportError(f"{self.checkpoint_path}: cannot resume ({exc})") from exc
        self.step = int(ckpt["step"])
        self.elapsed_s = float(ckpt.get("elapsed_s", 0.0))
        self.history = ckpt.get("history", [])
        self.kid_history = ckpt.get("kid_history", [])
        self.kid_floor = ckpt.get("kid_floor")
        torch.set_rng_state(ckpt["torch_rng"])
        self.rng.bit_generator.state = ckpt["numpy_rng"]
        random.setstate(ckpt["python_rng"])
        log.info("resumed %s at step %d", self.checkpoint_path, self.step)

    def save_checkpoint(self) -> Path:
        ckpt = {
            "generator": self.g.state_dict(),
            "discriminator": self.d.state_dict(),
            "generator_ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "history": self.history,
            "kid_history": self.kid_history,
            "kid_floor": self.kid_floor,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "python_rng": random.getstate(),
            "gan_config": self.g.config.to_dict(),
            "train_config": self.config.to_dict(),
            "images": [p.name for p in self.paths],
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(ckpt, tmp)
        tmp.replace(self.checkpoint_path)
        return self.checkpoint_path

    # -- one step ----------------------------------------------------------------------------
    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.config.augment) if self.config.augment else x

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, augment: bool = True) -> torch.Tensor:
        if augment:
            real, fake = self._augment(real), self._augment(fake)
        return hinge_d_loss(self.d(real), self.d(fake))

    def d_step(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """One optimiser step of D on a real and a (detached) generated batch; returns its loss."""
        self.d.train()
        loss = self.discriminator_loss(real, fake.detach())
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return float(loss.detach())

    def train_step(self) -> StepResult:
        c = self.config
        self.g.train()
        self.d.train()
        real = self.crops.batch(c.batch_size, c.size)
        fake = self.g(torch.randn(c.batch_size, c.latent_dim))
        # D: hinge loss on augmented real and generated views.
        real_logits = self.d(self._augment(real))
        fake_logits = self.d(self._augment(fake.detach()))
        d_loss = hinge_d_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # G: against the updated D, through the same kind of augmentation.
        self.d.requires_grad_(False)
        g_loss = hinge_g_loss(self.d(self._augment(fake)))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
            raise ExportError(
                f"losses became d={d_loss.item()} g={g_loss.item()} at step {self.step}; lower the learning rates"
            )
        self.step += 1
        # EMA warm-up: average over fewer steps at first, so early samples are not the random init.
        self.ema.update(self.g, min(c.ema_decay, (1.0 + self.step) / (10.0 + self.step)))
        return StepResult(
            float(d_loss.detach()),
            float(g_loss.detach()),
            float(real_logits.detach().mean()),
            float(fake_logits.detach().mean()),
        )

    # -- measuring and showing ---------------------------------------------------------------
    @torch.no_grad()
    def ema_generator(self) -> Generator:
        """The EMA generator with batch-norm statistics recomputed for its weights, in eval mode."""
        model = self.ema.model
        if not isinstance(model, Generator):
            raise ExportError(f"the EMA model is a {type(model).__name__}, not a Generator")
        if self._calibrated_at != self.step:  # once per step, however many pictures and measures want it
            recalibrate_batchnorm(model, batches=4, batch_size=64, seed=self.config.seed)
            self._calibrated_at = self.step
        return model.eval()

    @torch.no_grad()
    def samples(self, path: str | Path | None = None) -> Path:
        g = self.ema_generator()
        return write_grid(g(self.sample_latents), path or self.out / "samples.png")

    def kid_metric(self) -> KernelDistance:
        if self._kid is None:
            if not self.config.loss_network:
                raise ExportError("KID needs the loss network (GanTrainingConfig.loss_network)")
            self._kid = KernelDistance(self.config.loss_network, self.config.kid_layer, self.config.kid_resolution)
            real_rng = np.random.default_rng(self.config.seed + 2)  # its own RNG: training data stays untouched
            reals = PaintingCrops(
                self.paths, self.config.short_side, (self.config.crop_min, self.config.crop_max), real_rng
            )
            n = max(self.config.kid_samples, 2)
            self._real_features = self._kid.features(reals.batch(n, self.config.size))
            if self.kid_floor is None:  # a second real set: what a perfect generator would score
                others = PaintingCrops(
                    self.paths,
                    self.config.short_side,
                    (self.config.crop_min, self.config.crop_max),
                    np.random.default_rng(self.config.seed + 3),
                )
                self.kid_floor = kid(
                    self._real_features, self._kid.features(others.batch(n, self.config.size)), seed=self.config.seed
                )[0]
        return self._kid

    @torch.no_grad()
    def evaluate_kid(self) -> dict:
        """KID of the EMA generator's images from fixed latents against fixed real crops; appended to history."""
        metric = self.kid_metric()
        g = self.ema_generator()
        fake = torch.cat([g(z) for z in self.kid_latents.split(100)])
        if self._real_features is None:
            raise ExportError("KID: the real images' features were not computed")
        mean, std = kid(self._real_features, metric.features(fake), seed=self.config.seed)
        point = {
            "step": self.step,
            "kid": round(mean, 6),
            "kid_std": round(std, 6),
            "seconds": round(self.elapsed_s, 1),
        }
        self.kid_history = [p for p in self.kid_history if p["step"] != self.step] + [point]
        return point

    def plot(self, path: str | Path | None = None) -> Path:
        c = self.config
        return plot_kid(
            self.kid_history,
            path or self.out / "kid.png",
            title=f"KID (SqueezeNet {c.kid_layer}, polynomial kernel) of {c.size}x{c.size} samples",
            floor=self.kid_floor,
        )

    def run(self, progress: bool = True) -> dict:
        """Train to ``config.steps``; returns a summary (steps, seconds, last KID)."""
        from tqdm import tqdm

        c = self.config
        bar = tqdm(total=c.steps, initial=self.step, disable=not progress, dynamic_ncols=True, desc="train-generator")
        smooth: dict[str, float] = {}
        t_last = t_start = time.monotonic()
        deadline = t_start + c.max_minutes * 60.0 if c.max_minutes > 0 else math.inf
        if c.loss_network and c.kid_every and not self.kid_history:
            self.evaluate_kid()  # the untrained generator: where the curve starts
            t_last = time.monotonic()
        while self.step < c.steps:
            r = self.train_step()
            now = time.monotonic()
            self.elapsed_s += now - t_last
            t_last = now
            for k, v in (("d", r.d_loss), ("g", r.g_loss), ("real", r.real_logit), ("fake", r.fake_logit)):
                smooth[k] = v if k not in smooth else 0.95 * smooth[k] + 0.05 * v
            bar.update(1)
            post = {k: f"{v:.3g}" for k, v in smooth.items()}
            if self.kid_history:
                post["kid"] = f"{self.kid_history[-1]['kid']:.4g}"
            bar.set_postfix(post)
            if self.step % 10 == 0:
                self.history.append(
                    {
                        "step": self.step,
                        "seconds": round(self.elapsed_s, 1),
                        **{k: round(v, 4) for k, v in smooth.items()},
                    }
                )
            done = self.step == c.steps or now >= deadline
            if now >= deadline and self.step < c.steps:
                log.info("stopping at step %d: the %.0f-minute budget is spent", self.step, c.max_minutes)
            if c.loss_network and c.kid_every and (self.step % c.kid_every == 0 or done):
                point = self.evaluate_kid()
                log.info("step %d: KID %.4g +- %.2g", self.step, point["kid"], point["kid_std"])
                self.plot()
            if self.step % c.sample_every == 0 or done:
                self.samples()
            if self.step % c.checkpoint_every == 0 or done:
                self.save_checkpoint()
            t_last = time.monotonic()  # evaluation and saving are not training time
            if done:
                break
        bar.close()
        write_atomic(self.out / "history.json", json.dumps({"losses": self.history, "kid": self.kid_history}, indent=1))
        return {
            "steps": self.step,
            "seconds": round(self.elapsed_s, 1),
            "kid": self.kid_history[-1] if self.kid_history else None,
        }
