"""Screenshots of the WebXR viewer for docs/xr.md, taken from a real running show.

Starts ``python -m installation.cli run CONFIG --headless --port PORT`` (by default
configs/xr-exhibit.yaml: the built-in animated source when no camera is plugged in, the bundled
model on the CPU, streams on), opens ``/xr`` in headless Chromium with SwiftShader WebGL
(tools/xr_browser.py) and saves:

- ``xr_vr.png``: an emulated Meta Quest 3 (IWER) in ``immersive-vr``: the dim gallery and its curved screen;
- ``xr_ar.png``: ``immersive-ar``: the framed canvas hung where the hit test met the (emulated) wall;
- ``xr_magic_window.png``: a phone-sized browser without WebXR: the magic window, turned a little.

    python tools/xr_screenshots.py --out docs

Needs chromium, chromium-driver, selenium and npm's iwer in tools/browser (``make browser``).
The emulated views are IWER's (one eye, no camera image behind AR), not a real headset's.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from xr_browser import chromium, install_iwer, page_errors, wait_for, xr_select, xr_state  # tools/, run as a script

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("xr_screenshots")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def running_show(config: str, port: int, log_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "installation.cli", "run", config, "--headless", "--port", str(port)]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            if not wait_for(lambda: proc.poll() is not None or healthy(port), 180) or proc.poll() is not None:
                raise RuntimeError(f"the show did not start; see {log_path}")
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def settle(driver, frames: int = 40) -> None:
    """Let the page render a few more frames (and the live picture move on) before a screenshot."""
    start = xr_state(driver).get("xrFrames", 0) + xr_state(driver).get("frames", 0)
    wait_for(lambda: xr_state(driver).get("xrFrames", 0) + xr_state(driver).get("frames", 0) > start + frames, 60)


def rates(driver, seconds: float = 5.0) -> tuple[float, float]:
    """(live picture frames/s the page drew, page frames/s rendered) over ``seconds`` of real time."""
    before, t0 = xr_state(driver), time.monotonic()
    wait_for(lambda: time.monotonic() - t0 >= seconds, seconds + 1)
    after, dt = xr_state(driver), time.monotonic() - t0
    rendered = after.get("xrFrames", 0) - before.get("xrFrames", 0)
    return (after.get("frames", 0) - before.get("frames", 0)) / dt, rendered / dt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/xr-exhibit.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "xr-screenshots")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/xr"
    with tempfile.TemporaryDirectory() as tmp, running_show(args.config, port, Path(tmp) / "show.log"):
        headset = chromium(Path(tmp) / "headset", (1280, 720))
        try:
            install_iwer(headset)
            headset.get(url)
            wait_for(lambda: xr_state(headset).get("frames", 0) > 5)
            headset.find_element("id", "enter-vr").click()
            settle(headset)
            headset.save_screenshot(str(args.out / "xr_vr.png"))
            picture_fps, xr_fps = rates(headset)
            log.info("VR (IWER, SwiftShader): live picture %.1f frames/s drawn, %.1f XR frames/s", picture_fps, xr_fps)
            headset.execute_script("window.laternaXR.leave()")
            wait_for(lambda: xr_state(headset).get("mode") == "window")
            headset.find_element("id", "enter-ar").click()
            wait_for(lambda: xr_state(headset).get("reticle"))
            xr_select(headset)
            wait_for(lambda: xr_state(headset).get("placed"))
            settle(headset)
            headset.save_screenshot(str(args.out / "xr_ar.png"))
            headset.execute_script("window.laternaXR.leave()")
            errors = page_errors(headset)
        finally:
            headset.quit()
        phone = chromium(Path(tmp) / "phone", (412, 860))
        try:
            phone.get(url)
            wait_for(lambda: xr_state(phone).get("frames", 0) > 5)
            phone.execute_script("document.getElementById('prompt-panel').open = false")
            from selenium.webdriver import ActionChains

            view = phone.find_element("id", "view")
            ActionChains(phone).move_to_element_with_offset(view, 0, -150).click_and_hold().move_by_offset(
                60, 0
            ).release().perform()
            settle(phone)
            phone.save_screenshot(str(args.out / "xr_magic_window.png"))
            errors += page_errors(phone)
        finally:
            phone.quit()
    for name in ("xr_vr.png", "xr_ar.png", "xr_magic_window.png"):
        log.info("wrote %s", args.out / name)
    if errors:
        log.warning("the page logged errors: %s", errors)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
