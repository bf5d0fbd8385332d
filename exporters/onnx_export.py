"""torch -> ONNX, and the parity check that must follow every export.

``export_onnx`` writes a model with dynamic height and width and inputs named ``image`` and
``style``; ``check_parity`` runs the file in a real ONNX Runtime session beside the PyTorch module
on random and real images and returns a ``ParityReport`` (max abs error, PSNR); ``require`` raises
``ExportError`` above the thresholds, so a bad export fails loudly.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.errors import ExportError

log = logging.getLogger(__name__)

OPSET = 17


def export_module(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    path: str | Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict | None = None,
    opset: int = OPSET,
) -> Path:
    """torch -> ONNX for any module, then the ONNX checker; ExportError naming the file on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model.eval(),
                inputs,
                str(path),
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                dynamic_axes=dynamic_axes,
                dynamo=False,
            )
    except Exception as exc:
        raise ExportError(f"{path}: torch -> ONNX export failed ({exc})") from exc
    import onnx

    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as exc:
        raise ExportError(f"{path}: exported file fails the ONNX checker ({exc})") from exc
    log.info("exported %s (opset %d, %.1f kB)", path, opset, path.stat().st_size / 1024)
    return path


def export_onnx(
    model: torch.nn.Module, path: str | Path, n_styles: int, sample_hw: tuple[int, int] = (64, 96), opset: int = OPSET
) -> Path:
    """Export a style network taking (image, style) to ONNX with dynamic batch, height and width."""
    image = torch.rand(1, 3, *sample_hw)
    style = torch.full((1, n_styles), 1.0 / max(n_styles, 1))
    inputs, names = ((image, style), ["image", "style"]) if n_styles else ((image,), ["image"])
    dynamic = {"image": {0: "batch", 2: "height", 3: "width"}, "stylized": {0: "batch", 2: "height", 3: "width"}}
    if n_styles:
        dynamic["style"] = {0: "batch"}
    return export_module(model, inputs, path, names, ["stylized"], dynamic, opset)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical arrays."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


@dataclass
class ParityCase:
    name: str
    shape: list[int]
    max_abs_error: float
    psnr_db: float


@dataclass
class ParityReport:
    """How closely a model file reproduces its reference, case by case."""

    model: str
    reference: str
    cases: list[ParityCase] = field(default_factory=list)
    max_abs_threshold: float = 1e-3
    min_psnr_threshold: float = 60.0

    @property
    def max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.cases), default=0.0)

    @property
    def min_psnr_db(self) -> float:
        return min((c.psnr_db for c in self.cases), default=math.inf)

    @property
    def passed(self) -> bool:
        return (
            bool(self.cases)
            and self.max_abs_error <= self.max_abs_threshold
            and self.min_psnr_db >= self.min_psnr_threshold
        )

    def require(self) -> ParityReport:
        if not self.passed:
            raise ExportError(
                f"{self.model}: parity check against {self.reference} failed: max abs error "
                f"{self.max_abs_error:.3g} (limit {self.max_abs_threshold:.3g}), PSNR "
                f"{self.min_psnr_db:.1f} dB (limit {self.min_psnr_threshold:.1f} dB)"
            )
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(max_abs_error=self.max_abs_error, min_psnr_db=_finite(self.min_psnr_db), passed=self.passed)
        for c in d["cases"]:
            c["psnr_db"] = _finite(c["psnr_db"])
        return d


def _finite(v: float) -> float | None:
    return None if math.isinf(v) else round(v, 2)


def parity_inputs(
    n_styles: int, real_images: list[np.ndarray] | None = None, seed: int = 0
) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Random images of odd and even sizes plus real photos, each with a style mix."""
    rng = np.random.default_rng(seed)
    cases = []
    for h, w in ((64, 64), (75, 133), (180, 320)):
        img = rng.random((1, 3, h, w), dtype=np.float32)
        cases.append((f"random {h}x{w}", img, _style(rng, n_styles)))
    for i, real in enumerate(real_images or []):
        cases.append((f"photo {i} {real.shape[2]}x{real.shape[3]}", real.astype(np.float32), _style(rng, n_styles)))
    return cases


def _style(rng: np.random.Generator, n: int) -> np.ndarray | None:
    if not n:
        return None
    s = rng.random((1, n)).astype(np.float32)
    return s / s.sum()


def check_parity(
    model: torch.nn.Module,
    onnx_path: str | Path,
    n_styles: int,
    real_images: list[np.ndarray] | None = None,
    max_abs: float = 1e-3,
    min_psnr: float = 60.0,
    providers: tuple[str, ...] = ("CPUExecutionProvider",),
    pixel_scale: float = 1.0,
) -> ParityReport:
    """Run the ONNX file in ONNX Runtime beside the PyTorch model; a report, never a print.

    ``pixel_scale`` is the model's pixel range (255 for 0..255 models): inputs are scaled to it and
    PSNR is measured against it as the peak. ``real_images`` are [0, 1] NCHW arrays."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=list(providers))
    report = ParityReport(
        str(onnx_path), f"PyTorch {type(model).__name__}", max_abs_threshold=max_abs, min_psnr_threshold=min_psnr
    )
    model = model.eval()
    for name, image, style in parity_inputs(n_styles, real_images):
        image = image * np.float32(pixel_scale)
        feed = {"image": image}
        if style is not None:
            feed["style"] = style
        got = sess.run(None, feed)[0]
        with torch.no_grad():
            args = (torch.from_numpy(image),) + ((torch.from_numpy(style),) if style is not None else ())
            want = model(*args).numpy()
        report.cases.append(
            ParityCase(name, list(image.shape), float(np.max(np.abs(got - want))), psnr(got, want, peak=pixel_scale))
        )
    return report


def compare_onnx(
    reference: str | Path,
    candidate: str | Path,
    n_styles: int,
    real_images: list[np.ndarray] | None = None,
    max_abs: float = 0.1,
    min_psnr: float = 30.0,
) -> ParityReport:
    """Compare two ONNX files (e.g. fp16 or int8 against fp32) on the same inputs."""
    import onnxruntime as ort

    ref = ort.InferenceSession(str(reference), providers=["CPUExecutionProvider"])
    cand = ort.InferenceSession(str(candidate), providers=["CPUExecutionProvider"])
    cand_types = {i.name: i.type for i in cand.get_inputs()}
    report = ParityReport(str(candidate), str(reference), max_abs_threshold=max_abs, min_psnr_threshold=min_psnr)
    for name, image, style in parity_inputs(n_styles, real_images):
        feed = {"image": image} if style is None else {"image": image, "style": style}
        want = ref.run(None, feed)[0]
        cfeed = {k: (v.astype(np.float16) if cand_types.get(k) == "tensor(float16)" else v) for k, v in feed.items()}
        got = cand.run(None, cfeed)[0].astype(np.float32)
        report.cases.append(ParityCase(name, list(image.shape), float(np.max(np.abs(got - want))), psnr(got, want)))
    return report
