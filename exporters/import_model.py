"""``laterna import-model``: write a manifest for an ONNX model Laterna did not train.

It probes the file with a real ONNX Runtime session: input and output names and shapes (fixed or
dynamic), whether it is a style network (an image input) or a generator (a latent input), and, for
style networks, the pixel range it expects (0..1 or 0..255) by running a real test picture at both
scales and keeping the one whose output lands in the same range as its input (or, when that does
not decide, still resembles the input best). A ``style`` input is fed a uniform mix for the probe,
and every one-hot mix is run once. Anything probed can be
overridden; what was probed and observed is recorded in the manifest.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.manifest import Manifest, StyleInfo, TensorSpec, file_sha256, manifest_path_for
from exporters.staging import refuse_overwrite

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


def _style_probe(path: Path, style_in: object | None) -> tuple[int, np.ndarray | None]:
    """(number of styles, the uniform mix to probe with) for a ``style`` input, or (0, None)."""
    if style_in is None:
        return 0, None
    shape = list(style_in.shape)  # type: ignore[attr-defined]
    n = shape[-1] if len(shape) == 2 else None
    if not isinstance(n, int) or n <= 0:
        raise ModelError(
            f"{path}: input 'style' should be (N, number of styles) with a fixed number of styles, got shape {shape}"
        )
    return n, np.full((1, n), 1.0 / n, np.float32)


def _run(sess: object, path: Path, output: str, feed: dict[str, np.ndarray]) -> np.ndarray:
    try:
        return np.asarray(sess.run([output], feed)[0], dtype=np.float32)  # type: ignore[attr-defined]
    except Exception as exc:  # ORT raises several unrelated types for a feed the model cannot take
        shapes = {k: list(v.shape) for k, v in feed.items()}
        raise ModelError(f"{path}: ONNX Runtime could not run the model on a probe {shapes} ({exc})") from exc


def probe_model(path: str | Path, name: str | None = None, pixel_range: tuple[float, float] | None = None) -> Manifest:
    """Inspect an ONNX model and return a manifest for it (not yet saved); ModelError if it cannot be probed."""
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
    style_in = next((i for i in ins if i.name == "style"), None) if image_in is not None else None
    latent_in = next((i for i in ins if len(i.shape) == 2), None)
    known = (
        {i.name for i in (image_in, style_in) if i is not None}
        if image_in is not None
        else {latent_in.name}
        if latent_in is not None
        else set()
    )
    unknown = [(i.name, i.shape) for i in ins if i.name not in known]
    if (image_in is not None or latent_in is not None) and unknown:
        raise ModelError(
            f"{path}: inputs {unknown} are neither an image (Nx3xHxW), a style mix ('style', NxS) nor "
            "a latent (NxZ); Laterna cannot feed them"
        )
    out_shape = _shape(outs[0].shape)
    observed: dict = {}
    if image_in is not None:
        kind = "style"
        in_shape = _shape(image_in.shape)
        _, _, h, w = _concrete(in_shape)
        picture = test_picture(h, w)
        n_styles, mix = _style_probe(path, style_in)
        extra_feed = {"style": mix} if mix is not None else {}
        if pixel_range is None:
            scores = {}
            for hi in (1.0, 255.0):
                out = _run(sess, path, outs[0].name, {image_in.name: picture * hi, **extra_feed})
                scores[hi] = (_similarity(picture, out), float(out.min()), float(out.max()))
            # Instance-normalised networks barely care about the input's scale, so similarity alone can
            # pick the wrong one: prefer the scale whose output lands in the same range as its input.
            fits = [k for k, (_, lo, hi_out) in scores.items() if lo >= -0.1 * k and 0.3 * k <= hi_out <= 1.1 * k]
            best = fits[0] if len(fits) == 1 else max(scores, key=lambda k: scores[k][0])
            pixel_range = (0.0, best)
            observed = {
                f"input_0..{int(k)}": {
                    "similarity": round(v[0], 3),
                    "out_min": round(v[1], 3),
                    "out_max": round(v[2], 3),
                }
                for k, v in scores.items()
            }
            if mix is not None:
                observed["style_probe"] = "uniform mix of all styles"
        if n_styles:  # every pure style must run too (one-hot mixes are what a visitor's word can ask for)
            for s in range(n_styles):
                _run(
                    sess,
                    path,
                    outs[0].name,
                    {image_in.name: picture * pixel_range[1], "style": np.eye(n_styles, dtype=np.float32)[s : s + 1]},
                )
            observed["one_hot_styles_run"] = n_styles
        inputs = [TensorSpec(image_in.name, in_shape, "float32", pixel_range, "NCHW RGB")]
        if n_styles:
            inputs.append(TensorSpec("style", (1, n_styles), "float32", (0.0, 1.0), "weights per style"))
        styles = (
            tuple(StyleInfo(f"style_{i}") for i in range(n_styles))
            if n_styles
            else (StyleInfo(path.stem, f"The look of the imported model {path.stem}."),)
        )
        outputs = [TensorSpec(outs[0].name, out_shape, "float32", pixel_range, "NCHW RGB")]
    elif latent_in is not None:
        kind = "generator"
        z = int(latent_in.shape[1]) if isinstance(latent_in.shape[1], int) else 0
        if z <= 0:
            raise ModelError(f"{path}: latent input {latent_in.name!r} needs a fixed size, got {latent_in.shape}")
        latent = np.random.default_rng(0).standard_normal((1, z)).astype(np.float32)
        out = _run(sess, path, outs[0].name, {latent_in.name: latent})
        lo, hi = float(out.min()), float(out.max())
        out_range = pixel_range or ((-1.0, 1.0) if lo < -0.2 else (0.0, 255.0) if hi > 2.0 else (0.0, 1.0))
        observed = {"out_min": round(lo, 3), "out_max": round(hi, 3)}
        inputs = [TensorSpec(latent_in.name, (1, z), "float32", (-3.0, 3.0), "latent N(0,1)")]
        outputs = [TensorSpec(outs[0].name, out_shape, "float32", out_range, "NCHW RGB")]
        styles = ()
    else:
        raise ModelError(
            f"{path}: no input looks like an image (Nx3xHxW) or a latent vector (NxZ); "
            f"inputs are {[(i.name, i.shape) for i in ins]}"
        )
    return Manifest(
        name=name or path.stem,
        file=path.name,
        kind=kind,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        styles=styles,
        sha256=file_sha256(path),
        extra={"provenance": {"imported_from": path.name, "probed": observed}},
        path=manifest_path_for(path),
    )


def manifest_target(model: str | Path, out: str | Path | None = None) -> Path:
    """Where import-model writes: beside the model, or ``out`` (a ``.json`` file, or a folder for ``<stem>.json``)."""
    model = Path(model)
    if out is None:
        return manifest_path_for(model)
    target = Path(out)
    return target if target.suffix == ".json" else target / f"{model.stem}.json"


def import_model(
    path: str | Path,
    name: str | None = None,
    pixel_range: tuple[float, float] | None = None,
    out: str | Path | None = None,
    force: bool = False,
) -> Manifest:
    """Probe ``path`` and write its manifest to ``manifest_target(path, out)``.

    An existing manifest there (a shipped one holds training, provenance and licences that a probe
    cannot know) is never replaced unless ``force``: ``OverwriteError`` names it and the flags."""
    target = manifest_target(path, out)
    refuse_overwrite([target], force, "--out FILE.json to write the probed manifest elsewhere")
    probed = probe_model(path, name, pixel_range)
    model_path = Path(path)
    file = os.path.relpath(model_path.resolve(), target.parent.resolve()) if out is not None else model_path.name
    manifest = dataclasses.replace(probed, file=Path(file).as_posix(), path=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest.save()
    log.info("wrote %s (%s model, input range %s)", manifest.path, manifest.kind, manifest.inputs[0].range)
    return manifest
