"""A real X server for window tests: Xvfb on a free display number, and X screenshots through ``xwd``.

Xvfb and xwd are Debian packages (``xvfb``, ``x11-apps``; the Makefile installs them best-effort); without
them the tests that need them skip and say so. SDL sees an Xvfb as one display, so two projectors are
two windows at their desktop positions on one wide screen.

``xorg_heads`` is the one way found here to give SDL two displays: Xorg with the dummy driver, its
outputs DUMMY0 and DUMMY1 switched on side by side with xrandr (Debian ``xserver-xorg-core``,
``xserver-xorg-video-dummy``, ``x11-xserver-utils``). Xvfb cannot: with two screens SDL lists two
displays at the same bounds and opens every window on the first; with +xinerama, or one wide screen
and ``xrandr --setmonitor``, SDL sees one display (docs/projectors.md says more).
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
    number = _free_display()
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_socket(number, proc, "Xvfb")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def xorg_heads(heads: int, width: int, height: int, tmp_dir: str) -> Iterator[str]:
    """An Xorg server (dummy driver) with ``heads`` outputs of ``width`` x ``height`` side by side, each one
    an SDL display; yields its DISPLAY. Skips when Xorg, the dummy driver or xrandr is missing, or the
    server cannot start here (it needs to run as root or through Xorg.wrap)."""
    need_xvfb()  # for xwd
    missing = [tool for tool in ("Xorg", "xrandr") if shutil.which(tool) is None]
    if not os.path.exists("/usr/lib/xorg/modules/drivers/dummy_drv.so"):
        missing.append("the dummy driver")
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (Debian: xserver-xorg-core, xserver-xorg-video-dummy, "
            "x11-xserver-utils; `make test` tries to install them)"
        )
    mode = f"laterna{width}x{height}"  # a name of its own: the server's built-in modes keep theirs
    config = os.path.join(tmp_dir, "xorg-dummy.conf")
    with open(config, "w") as f:
        f.write(
            'Section "Device"\n  Identifier "dummy"\n  Driver "dummy"\n  VideoRam 256000\nEndSection\n'
            'Section "Monitor"\n  Identifier "monitor"\n  HorizSync 5.0-1000.0\n  VertRefresh 5.0-200.0\n'
            "EndSection\n"
            'Section "Screen"\n  Identifier "screen"\n  Device "dummy"\n  Monitor "monitor"\n  DefaultDepth 24\n'
            f'  SubSection "Display"\n    Depth 24\n    Virtual {width * heads} {height}\n  EndSubSection\n'
            "EndSection\n"
        )
    number = _free_display()
    proc = subprocess.Popen(
        ["Xorg", f":{number}", "-config", config, "-noreset", "-nolisten", "tcp", "-logfile", config + ".log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_socket(number, proc, "Xorg")
        env = {**os.environ, "DISPLAY": f":{number}"}
        timing = [
            str(v) for v in (width * height * 60 / 1e6, width, width, width, width, height, height, height, height)
        ]
        commands = [["xrandr", "--newmode", mode, *timing]]
        place = []
        for head in range(heads):
            commands.append(["xrandr", "--addmode", f"DUMMY{head}", mode])
            place += ["--output", f"DUMMY{head}", "--mode", mode, "--pos", f"{head * width}x0"]
        commands.append(["xrandr", *place])
        commands.append(["xrandr", "--query"])  # a full probe: without it SDL's (cached) view still has one head
        for command in commands:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=20)
            if done.returncode != 0:
                pytest.skip(f"{' '.join(command[:2])} failed on the dummy Xorg: {done.stderr.strip()[:200]}")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _free_display() -> int:
    for number in range(90, 190):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            return number
    pytest.skip("no free X display number between :90 and :189")


def _wait_for_socket(number: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20.0
    while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.skip(f"{what} :{number} did not start")
        time.sleep(0.02)  # polling for the server's socket, with a deadline


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
