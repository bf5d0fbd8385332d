"""Speed of the generator path, side by side with the camera path, measured in one run.

Rows: the generator alone (latent -> model -> enlarged 640x360 picture), the generator restyled by
the style network end to end through the real frame loop, and the camera path (the built-in
pattern source in the camera's place) through the same loop and settings.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from engine.manifest import Manifest, load_manifest
from engine.sources.generator import GeneratorSource
from engine.sources.pattern import PatternSource
from installation.bench.timing import loop_fps, table

SIZE = (640, 360)


def _manifest(m: Manifest | str | Path) -> Manifest:
    return m if isinstance(m, Manifest) else load_manifest(m)


def generator_alone(manifest: Manifest, size: tuple[int, int], seconds: float) -> dict:
    """ms per picture of the model alone and of a whole GeneratorSource frame (model + enlarging)."""
    w, h = size
    source = GeneratorSource(manifest, width=w, height=h, fps=1000.0, threads=1)
    source.open()
    try:
        z = source.walk.wander(0.0)
        model_ms: list[float] = []
        frame_ms: list[float] = []
        session, name, out = source._session, source._input_name, source._output_name
        feed = {name: z.reshape(1, -1)}
        t_end = time.perf_counter() + seconds / 2
        while time.perf_counter() < t_end or len(model_ms) < 5:
            t = time.perf_counter()
            session.run([out], feed)
            model_ms.append((time.perf_counter() - t) * 1000.0)
        t_end = time.perf_counter() + seconds / 2
        tau = 0.0
        while time.perf_counter() < t_end or len(frame_ms) < 5:
            tau += 1.0 / 30.0
            t = time.perf_counter()
            source.render(source.walk.latent(tau, tau))
            frame_ms.append((time.perf_counter() - t) * 1000.0)
    finally:
        source.close()
    frame_ms.sort()
    return {
        "model_ms": statistics.median(model_ms),
        "frame_ms": statistics.median(frame_ms),
        "frame_ms_p99": frame_ms[min(len(frame_ms) - 1, int(0.99 * len(frame_ms)))],
    }


def generator_table(
    style_manifest: Manifest | str | Path, generator_manifest: Manifest | str | Path, seconds: float = 4.0
) -> str:
    """A Markdown table: generator alone, generator + style network, camera path, all at 640x360."""
    style, gen = _manifest(style_manifest), _manifest(generator_manifest)
    w, h = SIZE
    cpus = os.cpu_count() or 1
    sessions, threads = (2, 1) if cpus >= 2 else (1, 1)
    alone = generator_alone(gen, SIZE, seconds)
    native = "x".join(str(v) for v in gen.outputs[0].shape[2:])
    rows = [
        [
            f"generator alone ({native} -> {w}x{h})",
            "-",
            f"{1000.0 / alone['frame_ms']:.1f}",
            f"{alone['model_ms']:.2f} (+{alone['frame_ms'] - alone['model_ms']:.2f} enlarging)",
            "-",
            f"{alone['frame_ms_p99']:.2f}",
            "-",
        ]
    ]
    paths = (
        ("generator -> style network", lambda: GeneratorSource(gen, width=w, height=h, fps=1000.0, threads=1)),
        ("camera path (pattern source) -> style network", lambda: PatternSource(width=w, height=h, fps=1000.0)),
    )
    for label, make in paths:
        stats = loop_fps(make, style, SIZE, sessions, threads, seconds)
        rows.append(
            [
                label,
                f"{sessions}x{threads}",
                f"{stats['fps_steady']:.1f}",
                "-",
                f"{stats['model_ms']['p50']:.1f}",
                f"{stats['frame_ms']['p99']:.1f}",
                f"{stats['latency_ms']['p50']:.1f}",
            ]
        )
    return table(
        f"Generator path vs camera path at {w}x{h}: {gen.name} restyled by {style.name}, ONNX Runtime CPU, "
        f"{cpus} CPU threads",
        [
            "path",
            "style sessions x threads",
            "fps",
            "generator ms p50",
            "style model ms p50",
            "frame ms p99",
            "latency p50 ms",
        ],
        rows,
    )
