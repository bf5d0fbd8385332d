#!/usr/bin/env python3
"""Side by side in one run: the guided 1080p/2160p path's output-size steps before and after a commit.

    python tools/upscale_before_after.py [--before d0c6918]

The "before" ``engine/upscale.py`` and ``engine/sources/pattern.py`` are taken from git at ``--before`` and
imported beside the working tree's; each step is timed in process CPU ms per call on one OpenCV thread
(median of a burst, best of 5 interleaved bursts, so a busy machine disturbs both sides alike).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from engine.sources.pattern import PatternSource  # noqa: E402
from engine.upscale import GuidedUpscaler, ResizeUpscaler  # noqa: E402


def module_at(commit: str, path: str, name: str, folder: Path) -> ModuleType:
    """``path`` as it was at ``commit``, imported as ``name``."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], check=True, capture_output=True).stdout
    file = folder / f"{name}.py"
    file.write_bytes(text)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def burst(fn: Callable[[], Any], n: int) -> float:
    fn()
    times = []
    for _ in range(n):
        c = time.process_time()
        fn()
        times.append((time.process_time() - c) * 1000.0)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="d0c6918", help="the commit to compare with")
    args = p.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        old_up = module_at(args.before, "engine/upscale.py", "upscale_before", Path(tmp))
        old_pattern = module_at(args.before, "engine/sources/pattern.py", "pattern_before", Path(tmp))
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| output | step | before | after | after / before |\n|---|---|---|---|---|")
    for w, h in ((1920, 1080), (3840, 2160)):
        new_src, old_src = PatternSource(w, h), old_pattern.PatternSource(w, h)
        full = new_src.render(10.0)
        small = cv2.resize(full, (640, 360), interpolation=cv2.INTER_AREA)
        styled = cv2.GaussianBlur(small, (5, 5), 0)

        args_up = (styled, small, full, (w, h))
        pairs = {
            "built-in source": (partial(old_src.render, 10.0), partial(new_src.render, 10.0)),
            "guided, the default": (
                partial(old_up.GuidedUpscaler().upscale, *args_up),
                partial(GuidedUpscaler().upscale, *args_up),
            ),
            "guided, guide rgb": (
                partial(old_up.GuidedUpscaler(guide="rgb").upscale, *args_up),
                partial(GuidedUpscaler(guide="rgb").upscale, *args_up),
            ),
            "resize": (partial(old_up.ResizeUpscaler().upscale, *args_up), partial(ResizeUpscaler().upscale, *args_up)),
        }
        best: dict[str, list[list[float]]] = {k: [[], []] for k in pairs}
        for _ in range(5):
            for k, (before, after) in pairs.items():
                best[k][0].append(burst(before, 12 if w < 3000 else 4))
                best[k][1].append(burst(after, 12 if w < 3000 else 4))
        for k, (b, a) in best.items():
            print(f"| {w}x{h} | {k} | {min(b):.1f} | {min(a):.1f} | {min(a) / min(b):.2f} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
