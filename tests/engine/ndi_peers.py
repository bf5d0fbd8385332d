"""Two NDI peers for the NDI tests and the bench, each meant to run in its own (spawned) process: a sender
(a ``FanoutSink`` output sent by ``NdiSink``) and a receiver (``NdiSource``). Each writes Laterna's unicast
discovery config (127.0.0.1, no mDNS) before libndi loads in its process.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

WIDTH, HEIGHT, FPS = 64, 48, 30.0


def picture(k: int) -> np.ndarray:
    """The sender's k-th picture: gradients that move with k (RGB uint8)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([(x * 4 + k * 8) % 256, (y * 5) % 256, np.full_like(x, (k * 8) % 256)], axis=-1).astype(np.uint8)


def send_main(config_dir: str, name: str, seconds: float, out: Any, stop: Any = None) -> None:
    """Send ``picture(k)`` at 30 fps as the NDI source ``name`` for ``seconds`` or until the event ``stop`` is
    set; put the number sent on ``out``."""
    from engine.ndi import use_config

    use_config(config_dir, ["127.0.0.1"], "laterna-test")
    from engine.frame import Frame
    from engine.sinks.fanout import FanoutSink, OutputSpec
    from engine.sinks.ndi import NdiSink

    sink = FanoutSink([OutputSpec("main", WIDTH, HEIGHT, max_fps=0.0)])
    sink.open()
    ndi = NdiSink(sink, name)
    ndi.open()
    k, due, end = 0, time.monotonic(), time.monotonic() + seconds
    try:
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            sink.show(Frame(picture(k % 32)))
            k += 1
            due += 1 / FPS
            time.sleep(max(0.0, due - time.monotonic()))
    finally:
        ndi.close()
        sink.close()
        out.put(("sent", ndi.sent))


def receive_main(config_dir: str, name: str, seconds: float, out: Any, stop: Any = None) -> None:
    """Read the NDI source ``name`` until 40 pictures came or ``seconds`` passed (after it is found); put them
    on ``out``, then set the event ``stop`` (the sender may end)."""
    from engine.ndi import use_config

    use_config(config_dir, ["127.0.0.1"], "laterna-test")
    from engine.errors import SourceError
    from engine.sources.ndi import NdiSource

    source = NdiSource(name, stale_after=2.0, open_timeout=15.0)
    source.open()
    got: list[np.ndarray] = []
    errors = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end and len(got) < 40:
            try:
                frame = source.read()
            except SourceError:
                errors += 1
                time.sleep(0.05)
                continue
            if frame is None:
                time.sleep(0.005)
                continue
            got.append(np.array(frame.pixels))
    finally:
        source.close()
        out.put(("received", got, errors))
        if stop is not None:
            stop.set()
