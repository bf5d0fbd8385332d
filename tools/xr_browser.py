"""Headless Chromium with WebGL and, when asked, Meta's IWER as its WebXR runtime: for the /xr viewer's
browser tests (tests/installation/server/test_xr_page_e2e.py) and its screenshots (tools/xr_screenshots.py).

``chromium(profile)`` starts Chromium through chromedriver with SwiftShader WebGL (no GPU needed);
``install_iwer(driver)`` injects IWER (npm ``iwer``, which ``make browser`` installs into
tools/browser/node_modules) before any page script runs, so ``navigator.xr`` is an emulated Meta
Quest 3 in a room with a wall 2 m ahead and a floor, for hit tests. IWER is never served by the show: it reaches a page
only through this browser (DevTools ``Page.addScriptToEvaluateOnNewDocument``).
``BrowserMissing`` says what is not installed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "browser"  # package.json: npm ci installs IWER here
IWER_BUILD = HERE / "node_modules" / "iwer" / "build" / "iwer.min.js"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 60.0  # SwiftShader WebGL on a busy 2-core machine is slow; a page that works answers in seconds

# The emulated headset, and a room for its hit tests: a wall 2 m ahead (z = -2) facing the visitor, and the floor.
# (IWER leaves hit tests to a "synthetic environment"; this is the smallest one: what IWER calls on it.)
IWER_SETUP = """
(() => {
  class Room {
    constructor() {
      this.environmentCanvas = document.createElement("canvas");
      this.trackedPlanes = new Set();
      this.trackedMeshes = new Set();
    }
    render() {}
    computeHitTestResults(ray) {
      // The ray: the origin and -z column of a 4x4 column-major matrix. The nearer of the wall and the floor.
      const o = [ray[12], ray[13], ray[14]];
      const d = [-ray[8], -ray[9], -ray[10]];
      const wall = d[2] < -1e-6 ? (-2 - o[2]) / d[2] : Infinity;
      const floor = d[1] < -1e-6 ? -o[1] / d[1] : Infinity;
      const t = Math.min(wall, floor);
      if (!(t > 0 && t < Infinity)) return [];
      const p = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
      // A hit pose's y axis is the surface's normal: +z off the wall, +y off the floor.
      return [t === wall
        ? new Float32Array([1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, p[0], p[1], -2, 1])
        : new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, p[0], 0, p[2], 1])];
    }
  }
  const device = new IWER.XRDevice(IWER.metaQuest3);
  device.installSEM(Room);
  device.installRuntime({ forceInstall: true });
  window.__iwer = device;
})();
"""


class BrowserMissing(RuntimeError):
    """Chromium, chromedriver, selenium or IWER is not installed here; the message says which and how."""


def wait_for(condition: Any, seconds: float = WAIT_S) -> Any:
    """Poll ``condition`` until it returns something true or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = condition()
    return value


def _binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium(profile: Path, size: tuple[int, int] = (960, 600)) -> Any:
    """Headless Chromium with SwiftShader WebGL and the browser log kept; ``BrowserMissing`` without it."""
    try:
        from selenium import webdriver
    except ImportError as exc:
        raise BrowserMissing("the selenium package is not installed") from exc
    binary = _binary()
    if binary is None:
        raise BrowserMissing("chromium is not installed (apt-get install chromium chromium-driver)")
    if not (Path(CHROMEDRIVER).is_file() and os.access(CHROMEDRIVER, os.X_OK)):
        raise BrowserMissing(f"chromedriver is not installed at {CHROMEDRIVER} (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--use-angle=swiftshader",  # WebGL on the CPU
        "--enable-unsafe-swiftshader",
        "--ignore-gpu-blocklist",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",  # WebRTC with a show on this machine (test only)
        "--disable-features=WebRtcHideLocalIpsWithMdns",  # real host candidates, not mDNS names
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={size[0]},{size[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    return driver


def install_iwer(driver: Any) -> str:
    """IWER as the browser's WebXR runtime on every page loaded from now on; returns the script's id."""
    if not IWER_BUILD.is_file():
        raise BrowserMissing(f"IWER is not installed ({IWER_BUILD}: `make browser` runs npm ci in tools/browser)")
    source = IWER_BUILD.read_text(encoding="utf-8") + "\n" + IWER_SETUP
    return str(driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})["identifier"])


def remove_iwer(driver: Any, identifier: str) -> None:
    """Pages loaded from now on get the browser's own WebXR (none, headless) again."""
    driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})


def page_errors(driver: Any) -> list[str]:
    """The console's errors since the last call, and the warnings our own page logs (they start "Laterna")."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" or (entry["level"] == "WARNING" and "Laterna" in entry["message"])
    ]


def xr_state(driver: Any) -> dict:
    """What the /xr page says it is doing (``window.laternaXR.state()``)."""
    return driver.execute_script("return window.laternaXR ? window.laternaXR.state() : {}") or {}


def xr_sample(driver: Any) -> list[int]:
    """The mean RGBA at the centre of what the visitor sees, read back from the WebGL canvas after a frame."""
    return list(driver.execute_async_script("window.laternaXR.sample().then(arguments[0])"))


def xr_select(driver: Any) -> None:
    """Pull and release the emulated right controller's trigger: one ``select`` in the XR session."""
    driver.execute_script(
        "const c = window.__iwer.controllers.right; c.updateButtonValue('trigger', 1);"
        "setTimeout(() => c.updateButtonValue('trigger', 0), 200);"
    )
