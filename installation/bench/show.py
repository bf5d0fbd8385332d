"""``laterna bench``: speed tables, every number measured side by side in one run.

Table 1, the model: ms/frame and FPS of the default model through ONNX Runtime CPU and PyTorch at
320x180 .. 1920x1080, beside the classic Johnson TransformerNet run by PyTorch eager as
pytorch/examples runs it (random weights: timing only).
Table 2, end to end: built-in source -> stylize -> headless sink through the real frame loop (on the
show's inference workers), beside a bare inference loop with the same backend settings, so the engine's
own overhead shows; then where an end-to-end frame's CPU time goes, step by step (``overhead_table``).
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.convert import FUSED
from engine.loop import FrameLoop
from engine.manifest import Manifest, load_manifest
from engine.pipeline import Stylizer
from engine.sinks.headless import HeadlessSink
from engine.sources.pattern import PatternSource
from engine.stabilizer import Stabilizer
from engine.style import StyleMix
from installation.bench.timing import SHOW_WORKERS, bare_inference, loop_fps, run_loop, table, time_calls

log = logging.getLogger(__name__)

SIZES = ((320, 180), (640, 360), (1280, 720), (1920, 1080))


def model_table(manifest: Manifest, quick: bool) -> str:
    import torch

    from exporters.johnson import TransformerNet

    n = len(manifest.styles)
    style = np.full((1, n), 1.0 / n, np.float32)
    ort = OnnxRuntimeBackend(manifest, BackendOptions(threads=os.cpu_count() or 1)).load()
    script = torch.jit.load(str(manifest.model_path.parent / manifest.extra["variants"]["torchscript"]["file"])).eval()
    johnson = TransformerNet().eval()
    sizes = SIZES[:2] if quick else SIZES
    rows = []
    for w, h in sizes:
        img = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        timg, tstyle = torch.from_numpy(img), torch.from_numpy(style)
        budget, runs = (1.0, 5) if quick else (3.0, 20)
        t_ort = statistics.median(time_calls(partial(ort.infer, img, style), budget, runs))
        with torch.inference_mode():
            t_pt = statistics.median(time_calls(partial(script, timg, tstyle), budget, runs))
            t_j = statistics.median(
                time_calls(
                    lambda: johnson(timg * 255.0),  # noqa: B023 (called at once)
                    budget,
                    3 if w > 640 else runs,
                )
            )
        rows.append(
            [
                f"{w}x{h}",
                f"{t_ort:.1f}",
                f"{1000 / t_ort:.1f}",
                f"{t_pt:.1f}",
                f"{1000 / t_pt:.1f}",
                f"{t_j:.0f}",
                f"{1000 / t_j:.2f}",
                f"{t_j / t_ort:.0f}x",
            ]
        )
    ort.close()
    return table(
        f"Model only: {manifest.name} ({len(manifest.styles)} styles) vs classic Johnson TransformerNet, "
        f"{os.cpu_count()} CPU threads",
        ["size", "ORT ms", "ORT fps", "PyTorch ms", "PyTorch fps", "Johnson ms", "Johnson fps", "ORT speed-up"],
        rows,
    )


def end_to_end(
    manifest: Manifest, size: tuple[int, int], sessions: int, threads: int, seconds: float, smoothing: float = 0.5
) -> dict[str, Any]:
    """The built-in pattern source through the real, uncapped frame loop (see ``loop_fps``)."""
    w, h = size
    return loop_fps(
        lambda: PatternSource(width=w, height=h, fps=1000.0), manifest, size, sessions, threads, seconds, smoothing
    )


def e2e_table(manifest: Manifest, seconds: float, quick: bool, rounds: int | None = None) -> str:
    """Bare inference and the real loop side by side: frames/s, and process CPU ms per frame, which
    shows the engine's own work even on a machine other programs keep busy. Each row is ``rounds`` pairs
    of runs (bare, then the loop; 5, or 1 when ``quick``) of ``seconds`` / 3 each (``seconds`` split between
    them when there are fewer): fps and CPU ms are medians over the pairs, the overheads the median of each
    pair's own (side by side, seconds apart), and each pair's fps overhead is shown, so a slow moment of a shared
    machine shows as a spread instead of moving the headline. The loop's figures are the steady show's
    (``run_loop``: from every worker's first picture to the last one, not the start and stop of a short run)."""
    rows = []
    cpus = os.cpu_count() or 1
    configs = [(2, 1), (1, cpus)] if cpus >= 2 else [(1, 1)]
    n = rounds or (1 if quick else 5)
    each = seconds / min(n, 3)  # more pairs make a steadier median, not shorter runs
    for size in ((640, 360),) if quick else ((640, 360), (1280, 720)):
        for sessions, threads in configs:
            pairs = [
                (
                    bare_inference(manifest, size, sessions, threads, each),
                    end_to_end(manifest, size, sessions, threads, each),
                )
                for _ in range(n)
            ]
            bare_fps = statistics.median(b["fps"] for b, _ in pairs)
            fps = statistics.median(s["fps_steady"] for _, s in pairs)
            bare_cpu = statistics.median(b["cpu_ms"] for b, _ in pairs)
            cpu = statistics.median(s["cpu_ms_steady"] for _, s in pairs)
            each_pair = sorted(max(0.0, 1 - s["fps_steady"] / b["fps"]) * 100 for b, s in pairs)
            cpu_pairs = [(s["cpu_ms_steady"] / b["cpu_ms"] - 1) * 100 for b, s in pairs]
            stats = pairs[-1][1]
            rows.append(
                [
                    f"{size[0]}x{size[1]}",
                    f"{sessions}x{threads}",
                    f"{bare_fps:.1f}",
                    f"{fps:.1f}",
                    f"{statistics.median(each_pair):.1f}%",
                    " / ".join(f"{o:.1f}" for o in each_pair),
                    f"{bare_cpu:.1f}",
                    f"{cpu:.1f}",
                    f"{statistics.median(cpu_pairs):.1f}%",
                    f"{stats['frame_ms']['p99']:.1f}",
                    f"{stats['latency_ms']['p50']:.1f}",
                    f"{stats['model_ms']['p50']:.1f}",
                ]
            )
    return table(
        "End to end (built-in source -> stylize + smoothing -> headless sink) vs bare inference, ONNX Runtime CPU "
        f"(medians of {n} bare/loop pair{'s' if n > 1 else ''} of {each:.1f} s each; e2e: the show running, from "
        "every worker's first picture to the last)",
        [
            "size",
            "sessions x threads",
            "bare fps",
            "e2e fps",
            "overhead (fps)",
            "each pair (%)",
            "bare CPU ms/frame",
            "e2e CPU ms/frame",
            "overhead (CPU)",
            "e2e p99 frame ms",
            "latency p50 ms",
            "model ms p50",
        ],
        rows,
    )


class _StepClock:
    """CPU ms (thread time) per named step, summed over whichever threads ran it, and how often it ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ms: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, step: str, t0: float, count: bool = True) -> None:
        took = (time.thread_time() - t0) * 1000.0
        with self._lock:
            self.ms[step] = self.ms.get(step, 0.0) + took
            self.calls[step] = self.calls.get(step, 0) + int(count)

    def per_call(self, step: str) -> float:
        with self._lock:
            return self.ms.get(step, 0.0) / max(1, self.calls.get(step, 0))

    def clear(self) -> None:
        with self._lock:
            self.ms.clear()
            self.calls.clear()


class _TimedBackend(OnnxRuntimeBackend):
    def __init__(self, manifest: Manifest, options: BackendOptions, clock: _StepClock) -> None:
        super().__init__(manifest, options)
        self._steps = clock

    def _infer(self, image, style):
        t0 = time.thread_time()
        try:
            return super()._infer(image, style)
        finally:
            self._steps.add("model", t0)


class _TimedStabilizer(Stabilizer):
    def __init__(self, amount: float, clock: _StepClock) -> None:
        super().__init__(amount)
        self._steps = clock

    def apply(self, inp, out, motion_picture=None):
        t0 = time.thread_time()
        try:
            return super().apply(inp, out, motion_picture)
        finally:
            self._steps.add("smoothing", t0)

    def apply_tensor(self, tensor, motion_picture):
        t0 = time.thread_time()
        try:
            return super().apply_tensor(tensor, motion_picture)
        finally:
            self._steps.add("smoothing", t0)


class _TimedStylizer(Stylizer):
    def __init__(self, backends, work_size, stabilizer, clock: _StepClock) -> None:
        super().__init__(backends, work_size, stabilizer)
        self._steps = clock

    def process(self, frame, mix):
        t0 = time.thread_time()
        try:
            return super().process(frame, mix)
        finally:
            self._steps.add("worker", t0)


class _TimedPattern(PatternSource):
    def __init__(self, width: int, height: int, clock: _StepClock) -> None:
        super().__init__(width=width, height=height, fps=1000.0)
        self._steps = clock

    def read(self):
        t0 = time.thread_time()
        frame = None
        try:
            frame = super().read()
            return frame
        finally:
            self._steps.add("source", t0, count=frame is not None)  # per picture drawn


def overhead_table(manifest: Manifest, size: tuple[int, int], sessions: int, threads: int, seconds: float) -> str:
    """Where an end-to-end frame's CPU time goes, beside the bare model's, in one run: the loop of
    ``e2e_table`` with each step's thread CPU time summed (a separate run: the headline fps carry no timers)."""
    bare = bare_inference(manifest, size, sessions, threads, seconds)
    steps = _StepClock()
    options = BackendOptions(threads=threads, sessions=sessions)
    stylizer = _TimedStylizer(
        [lambda: _TimedBackend(manifest, options, steps)], size, _TimedStabilizer(0.5, steps), steps
    )
    source = _TimedPattern(size[0], size[1], steps)
    source.open()
    try:
        mix = StyleMix.single(len(manifest.styles), 0)
        stats = run_loop(source, stylizer, mix, size, max(SHOW_WORKERS, sessions), seconds, on_start=steps.clear)
    finally:
        stylizer.close()
        source.close()
    # each step per frame it worked on (frames still in work at the end count too), the whole per frame shown
    # while the show ran (``run_loop``'s steady window)
    model, smoothing, source_ms = (steps.per_call(step) for step in ("model", "smoothing", "source"))
    worker, whole = steps.per_call("worker"), stats["cpu_ms_steady"]
    conversions = worker - model - smoothing
    rest = whole - worker - source_ms
    how = "one compiled pass" if FUSED else "OpenCV"
    rows = [
        ("model: ONNX Runtime session runs", "inference workers", model),
        (f"picture -> tensor + motion picture ({how}), checks, mix", "inference workers", conversions),
        (f"tensor -> picture + smoothing ({how})", "inference workers", smoothing),
        ("built-in source: render", "feeder", source_ms),
        ("loop, sink, hand-over between threads", "render loop, feeder, workers", rest),
    ]
    base = bare["cpu_ms"]
    body = [[name, where, f"{v:.2f}", f"{v / base * 100:.1f}%"] for name, where, v in rows]
    body.append(["all (e2e, CPU ms per frame shown)", "process", f"{whole:.2f}", f"{whole / base * 100:.1f}%"])
    body.append(["bare model (same sessions x threads)", "process", f"{base:.2f}", "100.0%"])
    return table(
        f"Where an end-to-end frame's CPU time goes, {size[0]}x{size[1]} {sessions}x{threads}, ONNX Runtime CPU "
        f"({stats['fps_steady']:.1f} fps e2e, {bare['fps']:.1f} fps bare; % of the bare model's CPU ms per frame)",
        ["step", "thread", "CPU ms/frame", "% of bare"],
        body,
    )


def run_bench(
    quick: bool = False,
    seconds: float = 6.0,
    model: str | Path = "models/lantern.json",
    tables: tuple[str, ...] = ("model", "e2e", "turn", "generator"),
) -> str:
    manifest = load_manifest(model)
    parts = []
    if "model" in tables:
        parts += [model_table(manifest, quick), ""]
    if "e2e" in tables:
        e2e_s = seconds if not quick else min(seconds, 2.0)
        parts += [e2e_table(manifest, e2e_s, quick), "", overhead_table(manifest, (640, 360), 2, 1, e2e_s), ""]
    if "turn" in tables:
        parts += [turn_table(manifest), ""]
    if "streams" in tables:
        from installation.bench.streams import streams_table

        parts += [streams_table(model, seconds=min(seconds, 4.0), quick=quick), ""]
    if "cluster" in tables:
        from installation.bench.cluster import cluster_table

        parts += [cluster_table(model), ""]
    if "projectors" in tables:
        from installation.bench.projectors import projectors_table

        parts += [projectors_table(manifest, seconds if not quick else min(seconds, 2.0), quick), ""]
    generator = Path(model).parent / "generator.json"
    if "generator" in tables and generator.is_file():
        from installation.bench.generator import generator_table

        parts += [generator_table(manifest, load_manifest(generator), seconds if not quick else min(seconds, 2.0)), ""]
    if "triton" in tables:  # not in the default set: it needs `make triton` (a separate environment)
        from installation.bench.triton import triton_table

        parts += [triton_table(manifest, seconds, quick), ""]
    if "upscale" in tables:  # not in the default set: a few minutes (1080p/4K output, picture quality)
        from installation.bench.upscale import upscale_tables

        parts += [upscale_tables(model, seconds if not quick else min(seconds, 2.0), quick)]
    return "\n".join(parts)


def gpu_table(model: str | Path = "models/lantern.json", sizes=((1280, 720), (1920, 1080), (3840, 2160))) -> str:
    """PyTorch CUDA path of the default model: fp32, fp16 + channels_last, fp16 + CUDA graphs."""
    import torch

    from engine.backends.torch import TorchBackend

    if not torch.cuda.is_available():
        return "no CUDA device: GPU benchmark skipped"
    manifest = load_manifest(model)
    style = StyleMix.single(len(manifest.styles), 0).as_array()
    variants = [
        ("fp32", BackendOptions(device="cuda")),
        ("fp16+channels_last", BackendOptions(device="cuda", fp16=True, channels_last=True)),
        ("fp16+cuda graphs", BackendOptions(device="cuda", fp16=True, cuda_graphs=True)),
    ]
    rows = []
    for w, h in sizes:
        img = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        row = [f"{w}x{h}"]
        for _, opts in variants:
            backend = TorchBackend(manifest, opts).load()
            t = statistics.median(time_calls(partial(backend.infer, img, style), 2.0, 50))
            row += [f"{t:.2f}", f"{1000 / t:.0f}"]
            backend.close()
        rows.append(row)
    header = ["size"] + [f"{name} {k}" for name, _ in variants for k in ("ms", "fps")]
    return table(f"PyTorch CUDA on {torch.cuda.get_device_name(0)} (incl. host<->device copies)", header, rows)


class _StillCamera(PatternSource):
    """A camera watching a still room: the same picture, new frames at the camera's rate."""

    def read(self):
        frame = super().read()
        if frame is None:
            return None
        if not hasattr(self, "_still"):
            self._still = frame.pixels
        return frame.with_pixels(self._still)


class _ChangeWatcher(HeadlessSink):
    """Records when each frame is shown, to find the first one that differs from a reference."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[float, np.ndarray]] = []
        self._lock = threading.Lock()

    def show(self, frame) -> None:
        super().show(frame)
        with self._lock:
            self.log.append((time.perf_counter(), frame.pixels))
            del self.log[:-200]

    def first_change_after(self, t0: float, reference: np.ndarray, threshold: float = 0.2) -> float | None:
        with self._lock:
            for t, px in self.log:
                if t >= t0 and np.abs(px.astype(np.int16) - reference).mean() > threshold:
                    return t
        return None


def turn_table(
    manifest: Manifest,
    prompts: tuple[str, ...] = (
        "stormy sea, huge waves",
        "swirling night sky full of stars",
        "a calm pond with water lilies",
        "cubist machine dance",
        "golden blossoms in spring",
    ),
) -> str:
    """A prompt's turn -> the first changed frame on screen, through the real Director and frame loop."""
    import asyncio

    from installation.prompts.director import Director, DirectorSettings
    from installation.prompts.embedding import SentenceEmbedder
    from installation.prompts.expander import OfflineExpander
    from installation.prompts.interpreter import Interpreter
    from installation.prompts.queue import Prompt

    size = (640, 360)
    options = BackendOptions(threads=1, sessions=2)
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(manifest, options)], size, Stabilizer(0.5))
    source = _StillCamera(width=size[0], height=size[1], fps=30.0)
    sink = _ChangeWatcher()
    n = len(manifest.styles)
    loop = FrameLoop(
        source, stylizer, [sink], StyleMix.single(n, 0), size, display_fps=30.0, workers=2, transition_s=2.0
    )
    embedder = SentenceEmbedder()
    director = Director(
        loop.post,
        Interpreter(embedder, list(manifest.styles)),
        OfflineExpander(embedder),
        settings=DirectorSettings(min_show_s=0),
    )
    director._interpret("warm up")  # load the model before timing
    source.open()
    runner = threading.Thread(target=loop.run, kwargs={"duration": 120.0}, daemon=True)
    runner.start()
    rows = []
    try:
        for i, text in enumerate(prompts):
            time.sleep(2.5)  # let the previous glide settle
            with sink._lock:
                reference = sink.log[-1][1].astype(np.int16)
            t0 = time.perf_counter()
            asyncio.run(director.show(Prompt(f"b{i}", "bench", text, 0.0)))
            t_posted = time.perf_counter()
            t_changed = None
            while t_changed is None and time.perf_counter() - t0 < 5.0:
                time.sleep(0.005)
                t_changed = sink.first_change_after(t_posted, reference)
            total = (t_changed - t0) * 1000 if t_changed else float("nan")
            rows.append(
                [
                    text,
                    f"{(t_posted - t0) * 1000:.0f}",
                    f"{total - (t_posted - t0) * 1000:.0f}",
                    f"{total:.0f}",
                    "yes" if total < 1000 else "NO",
                ]
            )
    finally:
        loop.post(__import__("engine.events", fromlist=["Stop"]).Stop())
        runner.join(timeout=10)
        stylizer.close()
    return table(
        "A prompt's turn -> first changed frame (640x360, ONNX Runtime CPU 2x1, offline expander)",
        ["prompt", "expand+interpret ms", "post -> changed frame ms", "total ms", "< 1 s"],
        rows,
    )
