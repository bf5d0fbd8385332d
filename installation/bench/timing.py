"""What every benchmark table shares: timing a call, running the real frame loop, drawing the table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.loop import FrameLoop
from engine.manifest import Manifest
from engine.pipeline import Stylizer
from engine.sinks.headless import HeadlessSink
from engine.sources.base import FrameSource
from engine.stabilizer import Stabilizer
from engine.style import StyleMix
from installation.show_settings import PipelineSettings


def time_calls(fn: Callable[[], Any], budget_s: float, max_runs: int) -> list[float]:
    """ms per call of ``fn`` after one warm-up call: at least one run, at most ``max_runs`` or ``budget_s``."""
    fn()  # warm-up
    times: list[float] = []
    t_end = time.perf_counter() + budget_s
    while len(times) < max_runs and (not times or time.perf_counter() < t_end):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return times


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table under a title line."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"

    return "\n".join(
        [title, line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows]
    )


def bare_inference(
    manifest: Manifest, size: tuple[int, int], sessions: int, threads: int, seconds: float
) -> dict[str, float]:
    """Back-to-back inference on a ready tensor from ``sessions`` threads, the ceiling: ``fps`` and
    ``cpu_ms`` (process CPU time per frame, which a busy shared machine disturbs far less than fps)."""
    import numpy as np

    backend = OnnxRuntimeBackend(manifest, BackendOptions(threads=threads, sessions=sessions)).load()
    w, h = size
    img = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    style = StyleMix.single(len(manifest.styles), 0).as_array()
    backend.infer(img, style)
    count = [0] * sessions
    t_end = time.perf_counter() + seconds

    def worker(i: int) -> None:
        while time.perf_counter() < t_end:
            backend.infer(img, style)
            count[i] += 1

    t0, c0 = time.perf_counter(), time.process_time()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    frames = max(1, sum(count))
    result = {"fps": frames / (time.perf_counter() - t0), "cpu_ms": (time.process_time() - c0) * 1000.0 / frames}
    backend.close()
    return result


SHOW_WORKERS: int = PipelineSettings().workers  # the show's inference threads, whatever its sessions x threads


def run_loop(
    source: FrameSource,
    stylizer: Stylizer,
    mix: StyleMix,
    size: tuple[int, int],
    workers: int,
    seconds: float,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Stats of ``source`` (opened) -> ``stylizer`` -> headless sink through the real, uncapped frame loop,
    after a short warm-up run; ``fps_overall`` is frames shown over the wall time of the measured run and
    ``cpu_ms`` the process CPU time per frame shown. ``on_start`` runs between the warm-up and the measured run."""

    def loop() -> FrameLoop:
        return FrameLoop(
            source, stylizer, [HeadlessSink()], mix, size, display_fps=0.0, workers=workers, frame_budget_s=5.0
        )

    loop().run(duration=min(0.5, seconds))  # warm-up
    measured = loop()
    if on_start is not None:
        on_start()
    t0, c0 = time.perf_counter(), time.process_time()
    stats = measured.run(duration=seconds)
    stats["fps_overall"] = stats["frames"] / (time.perf_counter() - t0)
    stats["cpu_ms"] = (time.process_time() - c0) * 1000.0 / max(1, stats["frames"])
    return stats


def loop_fps(
    make_source: Callable[[], FrameSource],
    style: Manifest,
    size: tuple[int, int],
    sessions: int,
    threads: int,
    seconds: float,
    smoothing: float = 0.5,
    workers: int | None = None,
) -> dict[str, Any]:
    """``run_loop`` with an ONNX Runtime stylizer of ``sessions`` x ``threads`` (+ smoothing) on ``workers``
    inference threads (default: as many as the show runs, ``SHOW_WORKERS``, or one per session if more)."""
    options = BackendOptions(threads=threads, sessions=sessions)
    stylizer = Stylizer(
        [lambda: OnnxRuntimeBackend(style, options)], size, Stabilizer(smoothing) if smoothing > 0 else None
    )
    source = make_source()
    source.open()
    try:
        mix = StyleMix.single(len(style.styles), 0)
        return run_loop(source, stylizer, mix, size, workers or max(SHOW_WORKERS, sessions), seconds)
    finally:
        stylizer.close()
        source.close()
