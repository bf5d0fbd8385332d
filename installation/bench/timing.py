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
    after a short warm-up run; ``on_start`` runs between the warm-up and the measured run.

    ``fps_overall`` is frames shown over the wall time of the whole measured run and ``cpu_ms`` the process CPU
    time per frame shown in it. ``fps_steady`` and ``cpu_ms_steady`` count only the show running: from the
    moment every worker has handed over its first picture to the last picture shown. The whole run also holds
    the pipeline filling up (the first picture comes a whole model run after the start) and the frames still in
    work when it stops (their inference is done, then thrown away); in a run of two seconds at 640x360 these
    took about 3% of the fps, which a show running for weeks never pays."""

    def loop() -> FrameLoop:
        return FrameLoop(
            source, stylizer, [HeadlessSink()], mix, size, display_fps=0.0, workers=workers, frame_budget_s=5.0
        )

    loop().run(duration=min(0.5, seconds))  # warm-up
    measured = loop()
    marks: list[tuple[float, float, int]] = []  # (wall, process CPU, frames shown): the first and the newest

    def mark(running: FrameLoop) -> None:
        frames = running.stats.frames
        if frames < workers or (marks and marks[-1][2] == frames):
            return
        now = (time.perf_counter(), time.process_time(), frames)
        if marks:
            marks[1:] = [now]  # the first stays, the newest is replaced
        else:
            marks.append(now)

    measured.on_tick.append(mark)
    if on_start is not None:
        on_start()
    t0, c0 = time.perf_counter(), time.process_time()
    stats = measured.run(duration=seconds)
    stats["fps_overall"] = stats["frames"] / (time.perf_counter() - t0)
    stats["cpu_ms"] = (time.process_time() - c0) * 1000.0 / max(1, stats["frames"])
    stats["fps_steady"], stats["cpu_ms_steady"] = steady_rate(marks) or (stats["fps_overall"], stats["cpu_ms"])
    stats["frames_steady"] = marks[-1][2] - marks[0][2] if marks else 0
    return stats


def steady_rate(marks: list[tuple[float, float, int]]) -> tuple[float, float] | None:
    """Frames per second and process CPU ms per frame between the first and the last of ``marks`` (wall time,
    process CPU time, frames shown so far; taken as pictures are shown), or None when they span no time."""
    if len(marks) < 2:
        return None
    (w0, cpu0, n0), (w1, cpu1, n1) = marks[0], marks[-1]
    if w1 <= w0 or n1 <= n0:
        return None
    return (n1 - n0) / (w1 - w0), (cpu1 - cpu0) * 1000.0 / (n1 - n0)


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
