"""``laterna import-model``: write a manifest for an ONNX model Laterna did not train.

It probes the file with a real ONNX Runtime session: input and output names and shapes (fixed or
dynamic), whether it is a style network (an image input) or a generator (a latent input), and, for
style networks, the pixel range it expects (0..1 or 0..255) by running a real test picture at both
scales and keeping the one whose output still resembles the input. Anything probed can be
overridden; what was probed and observed is recorded in the manifest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.manifest import Manifest, StyleInfo, TensorSpec, file_sha256, manifest_path_for

log = logging.getLogger(__name__)


def _shape(raw: list) -> tuple[int | str, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else (d if isinstance(d, str) and d else "dynamic") for d in raw)


def _concrete(shape: tuple, default_hw: tuple[int, int] = (224, 224)) -> tuple[int, ...]:
    dims = [d if isinstance(d, int) else 1 for d in shape]
    if len(shape) == 4:
        for i, d in ((2, default_hw[0]), (3, default_hw[1])):
            if not isinstance(shape[i], int):
                dims[i] = d
    return tuple(dims)


def test_picture(h: int, w: int) -> np.ndarray:
    """A deterministic picture with gradients, edges and colour: NCHW float32 in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = xx / max(w - 1, 1)
    g = yy / max(h - 1, 1)
    b = ((xx // max(w // 6, 1) + yy // max(h // 6, 1)) % 2).astype(np.float32) * 0.6 + 0.2
    return np.stack([r, g, b])[None].astype(np.float32)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.mean(axis=1).ravel(), b.mean(axis=1).ravel()
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def probe_model(path: str | Path, name: str | None = None, pixel_range: tuple[float, float] | None = None) -> Manifest:
    """Inspect an ONNX model and return a manifest for it (not yet saved)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{path}: ONNX Runtime cannot load this file ({exc})") from exc
    ins, outs = sess.get_inputs(), sess.get_outputs()
    if len(outs) < 1:
        raise ModelError(f"{path}: model has no outputs")
    image_in = next((i for i in ins if len(i.shape) == 4 and i.shape[1] == 3), None)
    latent_in = next((i for i in ins if len(i.shape) == 2), None)
    out_shape = _shape(outs[0].shape)
    observed: dict = {}
    if image_in is not None:
        kind = "style"
        in_shape = _shape(image_in.shape)
        n, _, h, w = _concrete(in_shape)
        picture = test_picture(h, w)
        if pixel_range is None:
            scores = {}
            for hi in (1.0, 255.0):
                out = sess.run([outs[0].name], {image_in.name: picture * hi})[0].astype(np.float32)
                scores[hi] = (_similarity(picture, out), float(out.min()), float(out.max()))
            best = max(scores, key=lambda k: scores[k][0])
            pixel_range = (0.0, best)
            observed = {f"input_0..{int(k)}": {"similarity": round(v[0], 3), "out_min": round(v[1], 3),
                                                "out_max": round(v[2], 3)} for k, v in scores.items()}
        inputs = [TensorSpec("image" if image_in.name == "image" else image_in.name, in_shape, "float32",
                             pixel_range, "NCHW RGB")]
        style_in = next((i for i in ins if i.name == "style"), None)
        n_styles = int(style_in.shape[1]) if style_in is not None and isinstance(style_in.shape[1], int) else 0
        if style_in is not None:
            inputs.append(TensorSpec("style", (1, n_styles), "float32", (0.0, 1.0)))
        styles = tuple(StyleInfo(f"style_{i}") for i in range(n_styles)) if n_styles else \
            (StyleInfo(path.stem, f"The look of the imported model {path.stem}."),)
        outputs = [TensorSpec(outs[0].name, out_shape, "float32", pixel_range, "NCHW RGB")]
    elif latent_in is not None:
        kind = "generator"
        z = int(latent_in.shape[1]) if isinstance(latent_in.shape[1], int) else 0
        if z <= 0:
            raise ModelError(f"{path}: latent input {latent_in.name!r} needs a fixed size, got {latent_in.shape}")
        out = sess.run([outs[0].name], {latent_in.name: np.random.default_rng(0).standard_normal((1, z)).astype(np.float32)})[0]
        lo, hi = float(out.min()), float(out.max())
        out_range = pixel_range or ((-1.0, 1.0) if lo < -0.2 else (0.0, 255.0) if hi > 2.0 else (0.0, 1.0))
        observed = {"out_min": round(lo, 3), "out_max": round(hi, 3)}
        inputs = [TensorSpec(latent_in.name, (1, z), "float32", (-3.0, 3.0), "latent N(0,1)")]
        outputs = [TensorSpec(outs[0].name, out_shape, "float32", out_range, "NCHW RGB")]
        styles = ()
    else:
        raise ModelError(f"{path}: no input looks like an image (Nx3xHxW) or a latent vector (NxZ); "
                         f"inputs are {[(i.name, i.shape) for i in ins]}")
    return Manifest(name=name or path.stem, file=path.name, kind=kind, inputs=tuple(inputs), outputs=tuple(outputs),
                    styles=styles, sha256=file_sha256(path),
                    extra={"provenance": {"imported_from": path.name, "probed": observed}},
                    path=manifest_path_for(path))


def import_model(path: str | Path, name: str | None = None, pixel_range: tuple[float, float] | None = None) -> Manifest:
    manifest = probe_model(path, name, pixel_range)
    manifest.save()
    log.info("wrote %s (%s model, input range %s)", manifest.path, manifest.kind, manifest.inputs[0].range)
    return manifest
