"""A real X server for window tests: Xvfb on a free display number, and X screenshots through ``xwd``.

Xvfb and xwd are Debian packages (``xvfb``, ``x11-apps``; the Makefile installs them best-effort); without
them the tests that need them skip and say so. SDL sees an Xvfb as one display, so two projectors are
two windows at their desktop positions on one wide screen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest


def need_xvfb() -> None:
    """Skip the calling test unless Xvfb and xwd are installed."""
    missing = [tool for tool in ("Xvfb", "xwd") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed (Debian: xvfb, x11-apps; `make test` tries to install them)"
        )


@contextmanager
def xvfb(width: int, height: int) -> Iterator[str]:
    """An Xvfb screen ``width`` x ``height`` x 24 for the duration; yields its DISPLAY (":N")."""
    need_xvfb()
    for number in range(90, 190):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    else:
        pytest.skip("no free X display number between :90 and :189")
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20.0
        while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Xvfb :{number} did not start")
            time.sleep(0.02)  # polling for the server's socket, with a deadline
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def screenshot(display: str) -> np.ndarray:
    """The whole X screen as RGB uint8 HxWx3, through ``xwd -root``."""
    raw = subprocess.run(
        ["xwd", "-root", "-silent"], capture_output=True, check=True, env={**os.environ, "DISPLAY": display}
    ).stdout
    header = np.frombuffer(raw[:100], ">u4")
    size, width, height, line, colours = (
        int(header[0]),
        int(header[4]),
        int(header[5]),
        int(header[12]),
        int(header[19]),
    )
    start = size + 12 * colours
    rows = np.frombuffer(raw[start : start + line * height], np.uint8).reshape(height, line)
    # Xvfb's xwd writes packed 3-byte BGR pixels in rows of `line` bytes (its header says 32 bits per pixel).
    return np.ascontiguousarray(rows[:, : width * 3].reshape(height, width, 3)[:, :, ::-1])
