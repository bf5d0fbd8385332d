"""`laterna bench --tables projectors`: what blending and warping cost per frame, and the whole loop
feeding one 1080p projector, two blended 1080p projectors (a 3600x1080 canvas) and one 4K projector.

The e2e rows run the real frame loop (built-in source -> stylize + smoothing at the working size ->
to the canvas by a plain resize, or by the guided upscaler with the source rendered at the canvas size)
into sinks that do each projector window's per-frame work (crop to the
region, blend, mesh remap) with the same engine code, but without a display: the window's blit and
present are not in these figures (measure them on the gallery machine with `laterna run --stats-out`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import numpy as np

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.frame import Frame
from engine.loop import FrameLoop
from engine.manifest import Manifest
from engine.pipeline import Stylizer
from engine.sinks.base import FrameSink
from engine.sinks.blend import BlendSpec, EdgeBlend, Zones, overlap_zones
from engine.sinks.mesh import Maps, identity_grid, remap, warp_maps
from engine.sources.pattern import PatternSource
from engine.stabilizer import Stabilizer
from engine.style import StyleMix
from engine.upscale import GuidedUpscaler
from installation.bench.timing import table, time_calls

FRAME_MS = 1000.0 / 30.0


def _mesh(rows: int = 5) -> np.ndarray:
    grid = identity_grid(rows, rows)
    grid[1:-1, 1:-1] += 0.01 * np.sin(np.arange((rows - 2) ** 2)).reshape(rows - 2, rows - 2, 1)  # a gentle bulge
    return grid


class ProjectorWork(FrameSink):
    """One projector's per-frame work without a window: region crop, blend, mesh remap."""

    name = "projector-work"

    def __init__(self, region: tuple[int, int, int, int], zones: Zones, warped: bool = True) -> None:
        x, y, w, h = region
        self.region = region
        self.blend: EdgeBlend | None = BlendSpec(zones).build(w, h, (w, h)) if zones.any else None
        self.maps: Maps | None = warp_maps(_mesh(), w, h) if warped else None
        self.buf = np.empty((h, w, 3), np.uint8)
        self.out = np.empty((h, w, 3), np.uint8)

    def show(self, frame: Frame) -> None:
        x, y, w, h = self.region
        pixels = np.ascontiguousarray(frame.pixels[y : y + h, x : x + w])
        if self.blend is not None:
            pixels = self.blend.apply(pixels, self.buf)
        if self.maps is not None:
            remap(pixels, self.maps, out=self.out)


def step_rows(
    quick: bool, sizes: tuple[tuple[int, int], ...] = ((1920, 1080), (3840, 2160)), work: tuple[int, int] = (640, 360)
) -> list[list[str]]:
    """ms per frame of each output step at each size (the guided upscaler from ``work``), and its share of a 30 fps
    frame."""
    rows = []
    for w, h in sizes:
        img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        out = np.empty_like(img)
        source = PatternSource(w, h).render(10.0)
        small = cv2.resize(source, work, interpolation=cv2.INTER_AREA)
        guided = GuidedUpscaler()
        blend = EdgeBlend(w, h, Zones(right=w // 8))
        colour = EdgeBlend(w, h, Zones(right=w // 8), gain=(1.0, 0.95, 0.9))
        t0 = time.perf_counter()
        maps = warp_maps(_mesh(), w, h)
        build_ms = (time.perf_counter() - t0) * 1000.0
        budget, runs = (0.5, 10) if quick else (1.5, 40)
        steps: list[tuple[str, Callable[[], Any]]] = [
            (
                f"guided upscale from {work[0]}x{work[1]} ({guided.guide})",
                partial(guided.upscale, small, small, source, (w, h)),
            ),
            (f"blend ({w // 8} px zone)", partial(blend.apply, img, out)),
            ("blend + colour gain", partial(colour.apply, img, out)),
            (f"mesh warp 5x5 (remap; tables built once in {build_ms:.0f} ms)", partial(remap, img, maps, out)),
        ]
        for name, fn in steps:
            c0 = time.process_time()
            times = time_calls(fn, budget, runs)
            cpu_ms = (time.process_time() - c0) * 1000.0 / (len(times) + 1)  # + the warm-up call
            ms = float(np.median(times))
            rows.append([f"{w}x{h}", name, f"{ms:.2f}", f"{ms / FRAME_MS * 100:.1f}%", f"{cpu_ms:.2f}"])
    return rows


TWO = [(0, 0, 1920, 1080), (1680, 0, 1920, 1080)]
SETUPS = (  # name, canvas, working size (the canvas's aspect), regions, mesh warp on, way to the canvas
    ("one 1080p projector, no warp", (1920, 1080), (640, 360), [(0, 0, 1920, 1080)], False, "resize"),
    ("one 1080p projector, no warp", (1920, 1080), (640, 360), [(0, 0, 1920, 1080)], False, "guided"),
    ("one 1080p projector + mesh", (1920, 1080), (640, 360), [(0, 0, 1920, 1080)], True, "guided"),
    ("two 1080p blended, no warp", (3600, 1080), (1200, 360), TWO, False, "resize"),
    ("two 1080p blended, no warp", (3600, 1080), (1200, 360), TWO, False, "guided"),
    ("two 1080p blended + mesh", (3600, 1080), (1200, 360), TWO, True, "guided"),
    ("one 4K projector, no warp", (3840, 2160), (640, 360), [(0, 0, 3840, 2160)], False, "resize"),
    ("one 4K projector, no warp", (3840, 2160), (640, 360), [(0, 0, 3840, 2160)], False, "guided"),
    ("one 4K projector + mesh", (3840, 2160), (640, 360), [(0, 0, 3840, 2160)], True, "guided"),
)


def e2e_rows(manifest: Manifest, seconds: float, setups: tuple[Any, ...] = SETUPS) -> list[list[str]]:
    """The real loop into each setup's projectors, one row per setup, one after the other in one run."""
    rows = []
    for name, canvas, size, regions, warped, way in setups:
        sinks: list[FrameSink] = [ProjectorWork(r, overlap_zones(regions, i), warped) for i, r in enumerate(regions)]
        stats = _run(manifest, size, canvas, sinks, seconds, guided=way == "guided")
        rows.append(
            [
                name,
                way,
                f"{canvas[0]}x{canvas[1]}",
                f"{size[0]}x{size[1]}",
                f"{stats['fps_overall']:.1f}",
                f"{stats['cpu_ms']:.1f}",
                f"{stats['model_ms']['p50']:.1f}",
            ]
        )
    return rows


def _run(
    manifest: Manifest,
    size: tuple[int, int],
    canvas: tuple[int, int],
    sinks: list[FrameSink],
    seconds: float,
    guided: bool = False,
) -> dict[str, Any]:
    """One setup through the real loop: a plain resize to the canvas (the loop's), or the guided upscaler on the
    worker threads with the source rendered at the canvas size (its guide)."""
    options = BackendOptions(threads=1, sessions=2)
    upscaler = GuidedUpscaler() if guided else None
    stylizer = Stylizer(
        [lambda: OnnxRuntimeBackend(manifest, options)],
        size,
        Stabilizer(0.5),
        upscaler=upscaler,
        output_size=canvas if guided else None,
    )
    mix = StyleMix.single(len(manifest.styles), 0)
    src = canvas if guided else size
    source = PatternSource(width=src[0], height=src[1], fps=240.0)
    source.open()
    try:
        kw: dict[str, Any] = {"display_fps": 0.0, "workers": 2, "frame_budget_s": 5.0}
        FrameLoop(source, stylizer, sinks, mix, canvas, **kw).run(duration=min(0.5, seconds))  # warm-up
        loop = FrameLoop(source, stylizer, sinks, mix, canvas, **kw)
        t0, c0 = time.perf_counter(), time.process_time()
        stats = loop.run(duration=seconds)
        stats["fps_overall"] = stats["frames"] / (time.perf_counter() - t0)
        stats["cpu_ms"] = (time.process_time() - c0) * 1000.0 / max(1, stats["frames"])
    finally:
        stylizer.close()
        source.close()
    return stats


def projectors_table(manifest: Manifest, seconds: float, quick: bool) -> str:
    """Both tables, measured in one run."""
    steps = table(
        "Projector output, per frame (CPU; wall ms median and its share of a 30 fps frame; CPU ms: process "
        "CPU time per call, all OpenCV threads, steadier than wall time on a busy machine)",
        ["output", "step", "ms", "% of 33.3 ms", "CPU ms"],
        step_rows(quick),
    )
    e2e = table(
        "Projectors end to end (pattern -> stylize 2x1 sessions -> to the canvas: plain resize, or guided upscaling "
        "with the pattern rendered at the canvas size -> per projector: crop, blend, 5x5 mesh remap when on; no "
        "window blit), ONNX Runtime CPU",
        ["setup", "to the canvas", "canvas", "stylised at", "e2e fps", "CPU ms/frame", "model ms p50"],
        e2e_rows(manifest, seconds),
    )
    return steps + "\n\n" + e2e
