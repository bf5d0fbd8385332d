"""The export chain for a trained generator: checkpoint -> ONNX (+ parity) -> manifest (+ pictures).

Each step is a separate callable that returns what it made or a report; ``export_generator``
composes them. The shipped network is the EMA generator with its batch-norm statistics recomputed
for the averaged weights; the ONNX file takes ``latent`` (1, Z) and returns ``image`` (1, 3, S, S)
in [-1, 1], and the manifest records the training data, steps, KID history and parity.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from engine.errors import ExportError
from engine.manifest import Manifest, TensorSpec, file_sha256, manifest_path_for
from exporters.gan import GanConfig, Generator, count_parameters, recalibrate_batchnorm
from exporters.gan_training import GanTrainingConfig, plot_kid, real_kid_floor, write_grid
from exporters.onnx_export import OPSET, ParityCase, ParityReport, export_module, psnr
from exporters.staging import StagedOutputs

log = logging.getLogger(__name__)

OUTPUT_RANGE = (-1.0, 1.0)
SIZE_LIMIT_MB = 10.0


def load_generator_checkpoint(path: str | Path, calibration_seed: int = 0) -> tuple[Generator, dict]:
    """The EMA generator of a training checkpoint (batch norm recalibrated, eval mode), and the checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        g = Generator(GanConfig.from_dict(ckpt["gan_config"]))
        g.load_state_dict(ckpt.get("generator_ema") or ckpt["generator"])
    except Exception as exc:  # torch raises several unrelated types for a foreign or truncated file
        raise ExportError(f"{path}: not a generator checkpoint from train-generator ({exc})") from exc
    recalibrate_batchnorm(g, batches=32, batch_size=64, seed=calibration_seed)
    return g.eval(), ckpt


def export_generator_onnx(g: Generator, path: str | Path, opset: int = OPSET) -> Path:
    """Export a generator taking ``latent`` (1, Z) and returning ``image`` (1, 3, S, S)."""
    return export_module(g, (torch.randn(1, g.config.latent_dim),), path, ["latent"], ["image"], opset=opset)


def parity_latents(latent_dim: int, cases: int = 8, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Latents from the prior, a long one from its tail, and zero."""
    rng = np.random.default_rng(seed)
    out = [(f"prior {i}", rng.standard_normal((1, latent_dim)).astype(np.float32)) for i in range(cases)]
    out.append(("tail (2.5x)", (2.5 * rng.standard_normal((1, latent_dim))).astype(np.float32)))
    out.append(("zero", np.zeros((1, latent_dim), np.float32)))
    return out


def check_generator_parity(
    g: Generator, onnx_path: str | Path, cases: int = 8, max_abs: float = 2e-3, min_psnr: float = 60.0
) -> ParityReport:
    """Run the ONNX file in ONNX Runtime beside the PyTorch generator on the same latents; a report.

    Pixels are in [-1, 1], so PSNR is measured against a peak of 2."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    report = ParityReport(
        str(onnx_path), f"PyTorch {type(g).__name__} (EMA)", max_abs_threshold=max_abs, min_psnr_threshold=min_psnr
    )
    g = g.eval()
    for name, z in parity_latents(g.config.latent_dim, cases):
        got = sess.run(None, {"latent": z})[0]
        with torch.no_grad():
            want = g(torch.from_numpy(z)).numpy()
        report.cases.append(
            ParityCase(name, list(z.shape), float(np.max(np.abs(got - want))), psnr(got, want, peak=2.0))
        )
    return report


def ort_generator_ms(path: str | Path, latent_dim: int, runs: int = 50, threads: int = 1) -> float:
    """Median ms for one latent -> image in ONNX Runtime CPU."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    z = np.random.default_rng(0).standard_normal((1, latent_dim)).astype(np.float32)
    sess.run(None, {"latent": z})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"latent": z})
        times.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(times))


def onnx_samples(onnx_path: str | Path, latent_dim: int, count: int = 64, seed: int = 1) -> np.ndarray:
    """``count`` images (N, 3, S, S) in [-1, 1] from the ONNX file itself, for pictures of what ships."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [sess.run(None, {"latent": rng.standard_normal((1, latent_dim)).astype(np.float32)})[0] for _ in range(count)]
    )


def kid_floor(ckpt: dict) -> float | None:
    """KID of real crops against other real crops for this run: from the checkpoint, or measured now."""
    if ckpt.get("kid_floor") is not None:
        return float(ckpt["kid_floor"])
    train_cfg = ckpt.get("train_config", {})
    if not train_cfg.get("loss_network"):
        return None
    try:
        return real_kid_floor(GanTrainingConfig.from_dict(train_cfg))[0]
    except ExportError as exc:  # the training images or loss network are not on this machine
        log.warning("cannot measure the real-vs-real KID floor: %s", exc)
        return None


def kid_summary(history: list[dict], train_config: dict, floor: float | None = None) -> dict:
    """First, best and last KID, the real-vs-real floor, and the whole (small) history as [step, kid, std] rows."""
    if not history:
        return {}
    best = min(history, key=lambda p: p["kid"])
    return {
        "metric": "KID: unbiased polynomial-kernel MMD^2 between real crops and EMA samples from fixed latents, "
        f"SqueezeNet {train_config.get('kid_layer', 'fire9')} features averaged over space, images "
        f"resized to {train_config.get('kid_resolution', 128)}px, mean over 10 subsets",
        "samples": train_config.get("kid_samples"),
        "real_vs_real": None if floor is None else round(floor, 6),
        "first": history[0],
        "best": best,
        "final": history[-1],
        "history": [[p["step"], p["kid"], p.get("kid_std", 0.0)] for p in history],
    }


def generator_manifest_specs(latent_dim: int, size: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    inputs = (TensorSpec("latent", (1, latent_dim), "float32", (-3.0, 3.0), "latent N(0, I)"),)
    outputs = (TensorSpec("image", (1, 3, size, size), "float32", OUTPUT_RANGE, "NCHW RGB"),)
    return inputs, outputs


def generator_picture_names(name: str) -> list[str]:
    return [f"{name}_samples.png", f"{name}_kid.png"]


def export_generator(
    checkpoint: str | Path,
    out_dir: str | Path,
    name: str = "generator",
    docs_dir: str | Path | None = None,
    extra: dict | None = None,
    force: bool = False,
) -> Manifest:
    """Export, verify and describe a trained generator; optionally write its sample grid and KID plot
    to ``docs_dir`` as ``{name}_samples.png`` and ``{name}_kid.png``. Raises ExportError if parity fails,
    and ``OverwriteError`` before any work if one of those files exists and ``force`` is off. Files are
    staged and moved into place only when everything passed."""
    out_dir = Path(out_dir)
    staged = StagedOutputs(out_dir, [f"{name}.onnx", f"{name}.json"], force)
    staged_docs = StagedOutputs(docs_dir, generator_picture_names(name), force) if docs_dir is not None else None
    g, ckpt = load_generator_checkpoint(checkpoint)
    with staged as stage:
        manifest = _export_generator_files(g, ckpt, stage, out_dir, name, extra)
        if staged_docs is not None:
            with staged_docs as docs_stage:
                write_generator_pictures(
                    manifest,
                    ckpt,
                    docs_stage,
                    manifest.extra["kid"].get("real_vs_real"),
                    model_path=stage / manifest.file,
                )
    log.info("wrote %s", manifest.path)
    return manifest


def _export_generator_files(
    g: Generator, ckpt: dict, stage: Path, out_dir: Path, name: str, extra: dict | None
) -> Manifest:
    """ONNX file, parity check and manifest, written into ``stage``; the manifest's path is in ``out_dir``."""
    cfg = g.config
    onnx_path = export_generator_onnx(g, stage / f"{name}.onnx")
    parity = check_generator_parity(g, onnx_path).require()
    size_mb = onnx_path.stat().st_size / 1e6
    if size_mb > SIZE_LIMIT_MB:
        log.warning("%s is %.1f MB, over the %.0f MB meant for shipped generators", onnx_path, size_mb, SIZE_LIMIT_MB)
    train_cfg = ckpt.get("train_config", {})
    floor = kid_floor(ckpt) if ckpt.get("kid_history") else None
    inputs, outputs = generator_manifest_specs(cfg.latent_dim, cfg.size)
    body = {
        "network": {
            "architecture": "DCGAN-family generator: dense -> 4x4 -> (nearest upsample, 3x3 conv, batch norm, "
            "ReLU) per doubling -> 3x3 conv -> tanh; exported as the EMA of G",
            **cfg.to_dict(),
            "parameters": count_parameters(g),
        },
        "latent": {
            "dim": cfg.latent_dim,
            "prior": "standard normal",
            "prior_norm": round(math.sqrt(cfg.latent_dim), 3),
        },
        "training": {
            "steps": ckpt.get("step"),
            "wall_seconds": round(float(ckpt.get("elapsed_s", 0.0)), 1),
            "images": ckpt.get("images", []),
            "image_folders": [Path(p).name for p in train_cfg.get("images", [])],
            "losses": "hinge, spectral norm on D, DiffAugment (" + ", ".join(train_cfg.get("augment", [])) + ")",
            **{
                k: train_cfg[k]
                for k in (
                    "size",
                    "batch_size",
                    "lr_g",
                    "lr_d",
                    "beta1",
                    "beta2",
                    "ema_decay",
                    "short_side",
                    "crop_min",
                    "crop_max",
                    "seed",
                )
                if k in train_cfg
            },
        },
        "kid": kid_summary(ckpt.get("kid_history", []), train_cfg, floor),
        "parity": parity.to_dict(),
        "size_mb": round(size_mb, 2),
        "speed_ms_ort_cpu_1thread": round(ort_generator_ms(onnx_path, cfg.latent_dim), 3),
        **(extra or {}),
    }
    manifest = Manifest(
        name=name,
        file=onnx_path.name,
        kind="generator",
        inputs=inputs,
        outputs=outputs,
        sha256=file_sha256(onnx_path),
        extra=body,
        path=manifest_path_for(out_dir / onnx_path.name),
    )
    manifest.save(stage / f"{name}.json")
    return manifest


def write_generator_pictures(
    manifest: Manifest, ckpt: dict, docs_dir: str | Path, floor: float | None = None, model_path: Path | None = None
) -> tuple[Path, Path]:
    """A grid of 64 samples from the exported ONNX file (``model_path``, default the manifest's), and the
    KID-over-training plot."""
    docs = Path(docs_dir)
    latent_dim = int(manifest.inputs[0].shape[1])
    grid = write_grid(
        torch.from_numpy(onnx_samples(model_path or manifest.model_path, latent_dim, count=32)),
        docs / f"{manifest.name}_samples.png",
    )
    train_cfg = ckpt.get("train_config", {})
    size = train_cfg.get("size", "?")
    plot = plot_kid(
        ckpt.get("kid_history", []),
        docs / f"{manifest.name}_kid.png",
        title=f"{manifest.name}: KID (SqueezeNet {train_cfg.get('kid_layer', 'fire9')}, polynomial kernel) "
        f"of {size}x{size} EMA samples vs real crops",
        floor=floor,
    )
    return grid, plot
