"""``laterna bench --tables upscale``: crisp projector output from a small working size, measured side by side.

Three ways to fill a 1920x1080 (and a 3840x2160) projector, in one run:
- **guided**: stylise at 640x360, enlarge with the fast guided filter, edges from the source at full size;
- **resize**: stylise at 640x360, enlarge with a bilinear resize (what the window did before);
- **native**: stylise at the output size itself.

Table 1, end to end: the built-in source (at the size each way needs) through the real frame loop,
uncapped, to a headless sink: frames/s and process CPU ms per frame (which other programs on a shared
machine disturb far less than frames/s).
Table 2, per-frame cost of the upscalers alone at 1080p and 2160p, in ms and in % of a 30 fps frame.
Table 3, picture quality, on the shared Kodak photos at their full 768x512 (cropped to 768x510) from a
256x170 working size, the same factor 3 as 1080p from 640x360, and on the built-in source at 1920x1080:
*sharpness* is the correlation of the output's gradient magnitude with the source's at full size (how
much of the source's edge detail survives); *style* is the SqueezeNet Gram distance to the style image
(the style report's measure), relative to the working-size output's (1.00: the same; the goal is within
10%).
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.convert import to_pixels, to_tensor
from engine.frame import shrink
from engine.loop import FrameLoop
from engine.manifest import Manifest, load_manifest
from engine.pipeline import Stylizer
from engine.sinks.headless import HeadlessSink
from engine.sources.pattern import PatternSource
from engine.stabilizer import Stabilizer
from engine.style import StyleMix
from engine.upscale import GuidedUpscaler, ResizeUpscaler, Upscaler
from installation.bench.timing import table

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
WORK = (640, 360)
OUTPUTS = ((1920, 1080), (3840, 2160))
METHODS = ("guided", "resize", "native")
STYLE = "starry_night"
WAY_NAMES = {
    "guided": "guided (detail)",
    "filter": "guided filter (as published)",
    "resize": "resize",
    "native": "native",
}


# -- measures -------------------------------------------------------------------------------------------
def gradient_magnitude(pixels: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the luminance of an RGB uint8 picture, float32."""
    y = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def gradient_correlation(picture: np.ndarray, source: np.ndarray) -> float:
    """Pearson correlation of the gradient magnitudes of ``picture`` and ``source`` (same size): 1 when
    every edge of the source is in the picture where it is and as strong, about 0 when none is."""
    if picture.shape != source.shape:
        raise ValueError(f"sizes differ: {picture.shape} vs {source.shape}")
    a, b = gradient_magnitude(picture).ravel(), gradient_magnitude(source).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


class StyleDistance:
    """The SqueezeNet Gram distance of a picture to one style image, as ``exporters.evaluate`` measures it."""

    def __init__(self, style_image: Path, weights: Path, style_long_side: int = 384) -> None:
        import torch

        from exporters.images import load_rgb
        from exporters.lossnet import SQUEEZENET_LAYERS, gram, load_loss_network

        self._torch, self._gram = torch, gram
        self.layers = SQUEEZENET_LAYERS[:4]
        self.net = load_loss_network(weights)
        with torch.no_grad():
            feats = self.net(load_rgb(style_image, long_side=style_long_side)[None])
        self.target = {k: gram(f) for k, f in feats.items() if k in self.layers}

    def __call__(self, pixels: np.ndarray) -> float:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            grams = {k: self._gram(f) for k, f in self.net(x).items() if k in self.layers}
        rel = [
            ((grams[k] - self.target[k]) ** 2).sum().item() / (self.target[k] ** 2).sum().item() for k in self.layers
        ]
        return float(np.mean(rel))


# -- the three ways, on one picture -----------------------------------------------------------------------
def stylise(backend: OnnxRuntimeBackend, mix: StyleMix, pixels: np.ndarray) -> np.ndarray:
    """One picture through the model at its own size."""
    return to_pixels(backend.infer(to_tensor(pixels), mix.as_array()))


def all_ways(
    backend: OnnxRuntimeBackend, mix: StyleMix, source: np.ndarray, work: tuple[int, int], guided: GuidedUpscaler
) -> dict[str, np.ndarray]:
    """``source`` (the full size) made into an output picture each way, and the working-size output ("work");
    "filter" is the fast guided filter as published (``form="filter"``) with the same radius and eps."""
    size = (source.shape[1], source.shape[0])
    small = shrink(source, work)  # as the Stylizer makes it
    styled = stylise(backend, mix, small)
    classic = GuidedUpscaler(guided.radius, guided.eps, guided.guide, form="filter")
    return {
        "work": styled,
        "guided": guided.upscale(styled, small, source, size),
        "filter": classic.upscale(styled, small, source, size),
        "resize": ResizeUpscaler().upscale(styled, small, None, size),
        "native": stylise(backend, mix, source),
    }


def kodak_photos(limit: int) -> list[np.ndarray]:
    """The shared Kodak photos, RGB, cropped to 768x510 (a multiple of 3 on both sides)."""
    paths = sorted((SHARED / "content" / "kodak").glob("*.png"))[:limit]
    photos = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        if bgr.shape[0] > bgr.shape[1]:
            bgr = cv2.rotate(bgr, cv2.ROTATE_90_CLOCKWISE)  # portrait photos lie down: same size for all
        photos.append(cv2.cvtColor(bgr[:510, :768], cv2.COLOR_BGR2RGB))
    return photos


def quality_rows(manifest: Manifest, guided: GuidedUpscaler, photos: int) -> list[list[str]]:
    """Sharpness and style of each way, on the Kodak photos (factor 3) and on the built-in source at 1080p."""
    weights = SHARED / "weights" / "squeezenet1_0" / "squeezenet1_0_imagenet.npz"
    style_image = SHARED / "styles" / f"{STYLE}.jpg"
    if not weights.is_file() or not style_image.is_file():
        return [["(shared data not found: quality not measured)", "", "", "", "", "", ""]]
    meter = StyleDistance(style_image, weights)
    names = manifest.style_names
    mix = StyleMix.single(len(names), names.index(STYLE) if STYLE in names else 0)
    backend = OnnxRuntimeBackend(manifest, BackendOptions(threads=os.cpu_count() or 1)).load()
    sets = [("Kodak 768x510 from 256x170", kodak_photos(photos), (256, 170))]
    pattern = PatternSource(1920, 1080)
    sets.append(("built-in 1920x1080 from 640x360", [pattern.render(t) for t in (5.0, 40.0)], WORK))
    rows = []
    try:
        for label, pictures, work in sets:
            if not pictures:
                continue
            ways = ("guided", "filter", "resize", "native")
            sharp: dict[str, list[float]] = {m: [] for m in ways}
            at_full: dict[str, list[float]] = {m: [] for m in ways}
            at_work: dict[str, list[float]] = {m: [] for m in (*ways, "work")}
            for source in pictures:
                outs = all_ways(backend, mix, source, work, guided)
                at_work["work"].append(meter(outs["work"]))
                for m in ways:
                    sharp[m].append(gradient_correlation(outs[m], source))
                    at_full[m].append(meter(outs[m]))
                    at_work[m].append(meter(cv2.resize(outs[m], work, interpolation=cv2.INTER_AREA)))

            def mean(values: list[float]) -> float:
                return statistics.mean(values)

            n = f"{len(pictures)}"
            rows.append([label, f"{work[0]}x{work[1]} output itself", "-", "-", f"{mean(at_work['work']):.3f}", "-", n])
            for m in ways:
                rows.append(
                    [
                        label,
                        WAY_NAMES[m],
                        f"{mean(sharp[m]):.3f}",
                        f"{mean(at_full[m]):.3f}",
                        f"{mean(at_work[m]):.3f}",
                        f"{mean(at_full[m]) / mean(at_full['resize']):.2f} / "
                        f"{mean(at_work[m]) / mean(at_work['resize']):.2f}",
                        n,
                    ]
                )
    finally:
        backend.close()
    return rows


# -- speed ----------------------------------------------------------------------------------------------
def cpu_ms_per_call(fn: Callable[[], Any], budget_s: float, max_runs: int) -> float:
    """Median process CPU ms of one call of ``fn`` after a warm-up call: what the call costs the machine, which
    other programs on a shared machine disturb far less than the wall time."""
    fn()
    times: list[float] = []
    t_end = time.perf_counter() + budget_s
    while len(times) < max_runs and (len(times) < 3 or time.perf_counter() < t_end):
        c = time.process_time()
        fn()
        times.append((time.process_time() - c) * 1000.0)
    return statistics.median(times)


def upscale_cost_rows(
    guided: GuidedUpscaler,
    seconds: float,
    outputs: tuple[tuple[int, int], ...] = OUTPUTS,
    work: tuple[int, int] = WORK,
) -> list[list[str]]:
    """CPU ms per frame of each output-size step on one OpenCV thread (as a worker thread gets it while the other
    runs the model), on a built-in frame, at each output size: the source rendered there, its ``work``-size copy,
    the guided upscaler with each guide, and a resize."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _cost_rows(guided, seconds, outputs, work)
    finally:
        cv2.setNumThreads(threads)


def _cost_rows(
    guided: GuidedUpscaler, seconds: float, outputs: tuple[tuple[int, int], ...], work: tuple[int, int]
) -> list[list[str]]:
    other = "rgb" if guided.guide == "luma" else "luma"
    twin = GuidedUpscaler(guided.radius, guided.eps, other, guided.form, guided.detail, guided.coarse)
    rows = []
    for w, h in outputs:
        pattern = PatternSource(w, h)
        source = pattern.render(10.0)
        small = shrink(source, work)
        styled = cv2.GaussianBlur(small, (5, 5), 0)
        steps: list[tuple[str, Callable[[], Any]]] = [
            (f"built-in source rendered at {w}x{h} (the guide)", partial(pattern.render, 10.0)),
            (
                f"its {work[0]}x{work[1]} copy for the model (engine.frame.shrink)",
                partial(shrink, source, work),
            ),
        ]
        steps += [
            (u.describe(), partial(u.upscale, styled, small, source, (w, h))) for u in (guided, twin, ResizeUpscaler())
        ]
        for name, fn in steps:
            ms = cpu_ms_per_call(fn, seconds, 200)
            rows.append([f"{w}x{h}", name, f"{ms:.1f}", f"{ms / (1000 / 30) * 100:.0f}%"])
    return rows


def loop_run(
    manifest: Manifest, method: str, size: tuple[int, int], guided: GuidedUpscaler, seconds: float
) -> dict[str, Any]:
    """The real loop, uncapped: the built-in source at the size ``method`` needs -> stylise -> output size."""
    big = method == "native" and size[0] > 1920  # one 4K session at a time: two would not fit beside the others
    options = BackendOptions(threads=2 if big else 1, sessions=1 if big else 2)
    work = size if method == "native" else WORK
    upscaler: Upscaler | None = {"guided": guided, "resize": ResizeUpscaler()}.get(method)
    source_size = WORK if method == "resize" else size
    stylizer = Stylizer(
        [lambda: OnnxRuntimeBackend(manifest, options)], work, Stabilizer(0.5), upscaler=upscaler, output_size=size
    )
    names = manifest.style_names
    mix = StyleMix.single(len(names), names.index(STYLE) if STYLE in names else 0)
    source = PatternSource(width=source_size[0], height=source_size[1], fps=1000.0)
    source.open()

    def loop() -> FrameLoop:
        return FrameLoop(source, stylizer, [HeadlessSink()], mix, size, display_fps=0.0, workers=2, frame_budget_s=30.0)

    try:
        loop().run(duration=min(1.0, seconds), max_frames=3)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        stats = loop().run(duration=seconds)
        wall = time.perf_counter() - t0
        stats["fps_overall"] = stats["frames"] / wall
        stats["cpu_ms"] = (time.process_time() - c0) * 1000.0 / max(1, stats["frames"])
        stats["sessions"] = f"{options.sessions}x{options.threads}"
    finally:
        stylizer.close()
        source.close()
    return stats


def e2e_rows(manifest: Manifest, guided: GuidedUpscaler, seconds: float, quick: bool) -> list[list[str]]:
    rows = []
    for size in OUTPUTS[:1] if quick else OUTPUTS:
        for method in METHODS:
            s = seconds if method != "native" else max(seconds, 4.0 if size[0] <= 1920 else 8.0)
            stats = loop_run(manifest, method, size, guided, s)
            rows.append(
                [
                    f"{size[0]}x{size[1]}",
                    WAY_NAMES[method],
                    f"{WORK[0]}x{WORK[1]}" if method != "native" else f"{size[0]}x{size[1]}",
                    stats["sessions"],
                    f"{stats['fps_overall']:.1f}" if stats["frames"] else f"< {1 / s:.2f}",
                    f"{stats['cpu_ms']:.1f}" if stats["frames"] else "-",
                    f"{stats['model_ms']['p50']:.1f}",
                    f"{stats['latency_ms']['p50']:.0f}",
                    f"{stats['frames']}",
                ]
            )
    return rows


def upscale_tables(
    model: str | Path = "models/lantern.json",
    seconds: float = 6.0,
    quick: bool = False,
    radius: int = 4,
    eps: float = 1e-3,
    guide: str = "luma",
    detail: float = 2.0,
) -> str:
    """The three tables (see the module's docstring), measured in this one run."""
    manifest = load_manifest(model)
    guided = GuidedUpscaler(radius, eps, guide, form="detail", detail=detail)
    cpus = os.cpu_count() or 1
    parts = [
        table(
            f"Upscaling end to end (built-in source -> stylise + smoothing -> upscale -> headless sink), "
            f"ONNX Runtime CPU, {cpus} CPU threads, {guided.describe()}",
            [
                "output",
                "way",
                "stylised at",
                "sessions x threads",
                "e2e fps",
                "CPU ms/frame",
                "model ms p50",
                "latency p50 ms",
                "frames",
            ],
            e2e_rows(manifest, guided, seconds, quick),
        ),
        "",
        table(
            "Per-frame cost of the output-size steps (process CPU ms, median, one OpenCV thread; % of a 30 fps frame): "
            "the built-in source at the output size, its working-size copy, the upscalers",
            ["output", "step", "CPU ms/frame", "% of 33.3 ms"],
            upscale_cost_rows(guided, 0.5 if quick else 2.0),
        ),
        "",
        table(
            f"Picture quality ({STYLE}): sharpness = gradient correlation with the full-size source (higher: more "
            "of its edges kept); style = SqueezeNet Gram distance to the style image (lower: closer), of the output "
            "and of the output shrunk to the working size; vs resize = those two over the resized output's (the "
            "working-size output as shown today; <= 1.10: style kept)",
            ["pictures", "way", "sharpness", "Gram @ output size", "Gram @ working size", "vs resize", "n"],
            quality_rows(manifest, guided, 3 if quick else 8),
        ),
        "",
    ]
    return "\n".join(parts)


def gpu_upscale_table() -> str:
    """The guided upscaler in PyTorch on CUDA at 1080p and 2160p (uint8 pictures in and out, copies included)."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device: GPU upscale benchmark skipped"
    from engine.upscale_torch import TorchGuidedUpscaler

    upscaler = TorchGuidedUpscaler(device="cuda")
    rows = []
    for w, h in OUTPUTS:
        source = PatternSource(w, h).render(10.0)
        small = cv2.resize(source, WORK, interpolation=cv2.INTER_AREA)
        styled = cv2.GaussianBlur(small, (5, 5), 0)
        call = partial(upscaler.upscale, styled, small, source, (w, h))
        call()
        times = []
        for _ in range(50):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000.0)
        rows.append([f"{w}x{h}", upscaler.describe(), f"{statistics.median(times):.2f}"])
    return table(f"Guided upscaling on {torch.cuda.get_device_name(0)}", ["output", "upscaler", "ms/frame"], rows)
