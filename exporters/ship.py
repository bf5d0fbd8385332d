"""The export chain for a trained LanternNet: checkpoint -> ONNX (+ parity) -> fp16/int8 variants
(+ parity against fp32, + speed) -> manifest; optionally -> TensorRT engine.

Each step is a separate callable that returns a report; ``export_style_model`` composes them and
writes the manifest beside the ONNX file. Nothing existing is replaced without ``force``, and every
file is staged and moved into place only when the whole chain passed (``exporters.staging``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import ExportError
from engine.manifest import Manifest, StyleInfo, TensorSpec, file_sha256, manifest_path_for
from exporters.images import load_rgb
from exporters.onnx_export import check_parity, compare_onnx, export_onnx
from exporters.staging import StagedOutputs
from exporters.style_catalog import style_entry
from exporters.stylenet import LanternConfig, LanternNet

log = logging.getLogger(__name__)


def _style_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """A styles_info entry as StyleInfo's keyword arguments (tags as a tuple)."""
    return {k: (tuple(v) if k == "tags" else v) for k, v in entry.items()}


def load_lantern_checkpoint(path: str | Path) -> tuple[LanternNet, list[str], dict]:
    """A LanternNet from a training or slim checkpoint; returns (net, style names, checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        net = LanternNet(LanternConfig.from_dict(ckpt["net_config"]))
        net.load_state_dict(ckpt["model"])
    except Exception as exc:
        raise ExportError(f"{path}: not a LanternNet checkpoint ({exc})") from exc
    return net.eval(), list(ckpt["style_names"]), ckpt


def style_manifest_specs(n_styles: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    image = TensorSpec("image", (1, 3, "height", "width"), "float32", (0.0, 1.0), "NCHW RGB")
    inputs = (image,) + (
        (TensorSpec("style", (1, n_styles), "float32", (0.0, 1.0), "weights per style"),) if n_styles else ()
    )
    outputs = (TensorSpec("stylized", (1, 3, "height", "width"), "float32", (0.0, 1.0), "NCHW RGB"),)
    return inputs, outputs


def ort_speed_ms(
    path: str | Path, n_styles: int, hw: tuple[int, int] = (360, 640), runs: int = 10, threads: int = 0
) -> float:
    """Median ms per frame of an ONNX style model in ONNX Runtime CPU."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {"image": np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)}
    if n_styles:
        feed["style"] = np.full((1, n_styles), 1.0 / n_styles, np.float32)
    sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def real_frames(paths: list[Path], long_side: int = 320) -> list[np.ndarray]:
    return [load_rgb(p, long_side=long_side)[None].numpy() for p in paths]


def style_output_names(name: str, variants: tuple[str, ...] = ("fp16", "int8")) -> list[str]:
    """Every file ``export_style_model`` writes into its folder, the manifest last."""
    return [
        f"{name}.onnx",
        f"{name}.torchscript.pt",
        f"{name}.pt",
        *(f"{name}.{v}.onnx" for v in variants),
        f"{name}.json",
    ]


def export_style_model(
    checkpoint: str | Path,
    out_dir: str | Path,
    name: str,
    real_images: list[Path],
    variants: tuple[str, ...] = ("fp16", "int8"),
    extra: dict | None = None,
    styles_info: list[dict] | None = None,
    force: bool = False,
) -> Manifest:
    """Export, verify and describe a trained LanternNet into ``out_dir``. Raises ExportError if parity fails,
    and ``OverwriteError`` before any work if one of its files exists there and ``force`` is off. Files are
    written to a staging folder and moved into place only when everything passed."""
    from exporters.variants import to_fp16, to_int8

    unknown = [v for v in variants if v not in ("fp16", "int8")]
    if unknown:
        raise ExportError(f"unknown variant {unknown[0]!r}; expected fp16 or int8")
    out_dir = Path(out_dir)
    staged = StagedOutputs(out_dir, style_output_names(name, variants), force)
    net, style_names, ckpt = load_lantern_checkpoint(checkpoint)
    n = len(style_names)
    with staged as stage:
        onnx_path = export_onnx(net, stage / f"{name}.onnx", n)
        frames = real_frames(real_images)
        parity = check_parity(net, onnx_path, n, frames).require()
        info = {"parity": parity.to_dict(), "speed_ms_640x360_ort_cpu": round(ort_speed_ms(onnx_path, n), 2)}
        script_path = stage / f"{name}.torchscript.pt"
        torch.jit.script(net).save(str(script_path))
        weights_path = stage / f"{name}.pt"  # slim PyTorch checkpoint: weights, config, style names
        torch.save(
            {
                "model": net.state_dict(),
                "net_config": net.config.to_dict(),
                "style_names": style_names,
                "step": ckpt.get("step"),
            },
            weights_path,
        )
        variant_info: dict = {
            "torchscript": {"file": script_path.name, "sha256": file_sha256(script_path)},
            "pytorch_checkpoint": {"file": weights_path.name, "sha256": file_sha256(weights_path)},
        }
        for variant in variants:
            vpath = stage / f"{name}.{variant}.onnx"
            if variant == "fp16":
                to_fp16(onnx_path, vpath)
            else:
                to_int8(onnx_path, vpath, real_frames(real_images, long_side=640) * 2, n)
            report = compare_onnx(onnx_path, vpath, n, frames, max_abs=1.0, min_psnr=0.0)
            variant_info[variant] = {
                "file": vpath.name,
                "sha256": file_sha256(vpath),
                "psnr_db_vs_fp32": _round(report.min_psnr_db),
                "max_abs_error_vs_fp32": round(report.max_abs_error, 4),
                "speed_ms_640x360_ort_cpu": round(ort_speed_ms(vpath, n), 2),
            }
        inputs, outputs = style_manifest_specs(n)
        styles = tuple(StyleInfo(**_style_fields(e)) for e in (styles_info or [style_entry(s) for s in style_names]))
        train_cfg = ckpt.get("train_config", {})
        body = {
            "network": {
                "architecture": "LanternNet",
                **net.config.to_dict(),
                "parameters": sum(p.numel() for p in net.parameters()),
            },
            "training": {
                "steps": ckpt.get("step"),
                **{k: v for k, v in train_cfg.items() if k != "styles"},
                "style_images": [Path(s).name for s in train_cfg.get("styles", [])],
            },
            **info,
            "variants": variant_info,
            **(extra or {}),
        }
        manifest = Manifest(
            name=name,
            file=onnx_path.name,
            kind="style",
            inputs=inputs,
            outputs=outputs,
            styles=styles,
            sha256=file_sha256(onnx_path),
            extra=body,
            path=manifest_path_for(out_dir / onnx_path.name),
        )
        manifest.save(stage / f"{name}.json")
    log.info("wrote %s", manifest.path)
    return manifest


def _round(v: float) -> float | None:
    return None if v == float("inf") else round(v, 2)


def export_johnson_model(
    checkpoint: str | Path, out_dir: str | Path, name: str, real_images: list[Path], force: bool = False
) -> Manifest:
    """Export a pytorch/examples fast_neural_style checkpoint: one style, pixels in 0..255."""
    from exporters.johnson import ClampedTransformerNet, load_transformer_net

    out_dir = Path(out_dir)
    staged = StagedOutputs(out_dir, [f"{name}.onnx", f"{name}.json"], force)
    net = ClampedTransformerNet(load_transformer_net(checkpoint)).eval()
    with staged as stage:
        onnx_path = export_onnx(net, stage / f"{name}.onnx", 0)
        # pixels are 0..255, so the absolute threshold scales with them (PSNR is against a peak of 255)
        parity = check_parity(
            net, onnx_path, 0, real_frames(real_images, long_side=256), max_abs=0.255, min_psnr=60.0, pixel_scale=255.0
        ).require()
        image = TensorSpec("image", (1, 3, "height", "width"), "float32", (0.0, 255.0), "NCHW RGB")
        output = TensorSpec("stylized", (1, 3, "height", "width"), "float32", (0.0, 255.0), "NCHW RGB")
        stem = Path(checkpoint).stem
        manifest = Manifest(
            name=name,
            file=onnx_path.name,
            kind="style",
            inputs=(image,),
            outputs=(output,),
            styles=(StyleInfo(stem, f"The look of the fast_neural_style model {stem}."),),
            sha256=file_sha256(onnx_path),
            extra={
                "network": {"architecture": "Johnson TransformerNet (pytorch/examples)"},
                "provenance": {"checkpoint": Path(checkpoint).name},
                "parity": parity.to_dict(),
            },
            path=manifest_path_for(out_dir / onnx_path.name),
        )
        manifest.save(stage / f"{name}.json")
    return manifest
