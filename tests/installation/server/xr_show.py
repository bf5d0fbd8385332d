"""A real server that streams a picture the test controls, and headless Chromium with WebGL, for the /xr tests.

``ColourShow``: a real ``FanoutSink`` (the engine's frame-out layer) fed by a painter thread that shows a
solid colour at ~20 frames a second (the test plays the frame loop's part, so it decides what the live
picture is), a real ``PromptServer`` with the real stream routes (``StreamService``) on port 0, and the
toy Director for the prompt box.

``xr_browser``: headless Chromium driven by chromedriver with SwiftShader WebGL; ``install_iwer`` injects
Meta's IWER (npm ``iwer``, installed by ``make browser`` into tools/browser/node_modules) before any page
script runs, so ``navigator.xr`` is an emulated Meta Quest 3. IWER is never served by the show: it
reaches the page only through the test's browser (DevTools ``Page.addScriptToEvaluateOnNewDocument``).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.frame import Frame
from engine.sinks.fanout import FanoutSink
from installation.server.prompt_server import PromptServer, ServerThread
from installation.server.settings import ServerSettings
from installation.server.stream_routes import StreamService
from installation.server.stream_settings import StreamOutputSettings, StreamsSettings
from tests.installation.prompts.toy_director import make_director

ROOT = Path(__file__).resolve().parents[3]
IWER_BUILD = ROOT / "tools" / "browser" / "node_modules" / "iwer" / "build" / "iwer.min.js"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 60.0  # SwiftShader WebGL on a busy 2-core machine is slow; a passing run takes seconds
WIDTH, HEIGHT = 160, 90

# The emulated headset, and a room for its hit tests: one wall 2 m ahead (z = -2) facing the visitor.
# (IWER leaves hit tests to a "synthetic environment"; this is the smallest one: what IWER calls on it.)
IWER_SETUP = """
(() => {
  class Wall {
    constructor() {
      this.environmentCanvas = document.createElement("canvas");
      this.trackedPlanes = new Set();
      this.trackedMeshes = new Set();
    }
    render() {}
    computeHitTestResults(ray) {
      const o = [ray[12], ray[13], ray[14]];
      const d = [-ray[8], -ray[9], -ray[10]];
      if (d[2] > -1e-6) return [];
      const t = (-2 - o[2]) / d[2];
      if (t <= 0) return [];
      return [new Float32Array([1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, o[0] + t * d[0], o[1] + t * d[1], -2, 1])];
    }
  }
  const device = new IWER.XRDevice(IWER.metaQuest3);
  device.installSEM(Wall);
  device.installRuntime({ forceInstall: true });
  window.__iwer = device;
})();
"""


def wait_for(condition: Any, seconds: float = WAIT_S) -> Any:
    """Poll ``condition`` until it returns something true or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = condition()
    return value


@dataclass
class ColourShow:
    sink: FanoutSink
    thread: ServerThread
    port: int
    colour: list[int] = field(default_factory=lambda: [200, 40, 40])
    shown: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _painter: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paint(self) -> None:
        seq = 0
        while not self._stop.wait(0.05):  # ~20 frames a second: the pace of a show's frame loop
            seq += 1
            pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            pixels[:] = self.colour
            self.sink.show(Frame(pixels, seq=seq))
            self.shown = seq

    def stop(self) -> None:
        self._stop.set()
        if self._painter is not None:
            self._painter.join(5)
        self.thread.stop()
        self.sink.close()


def start_colour_show(**streams: Any) -> ColourShow:
    settings = StreamsSettings(
        enabled=True,
        outputs=(StreamOutputSettings(name="main", width=WIDTH, height=HEIGHT, max_fps=0.0),),
        **streams,
    )
    sink = FanoutSink(settings.specs((WIDTH, HEIGHT)), max_viewers=settings.max_viewers)
    sink.open()
    director, _ = make_director()
    service = StreamService(sink, settings, title="Laterna XR test")
    server = PromptServer(
        director, ServerSettings(host="127.0.0.1", port=0, page_title="Laterna XR test"), streams=service
    )
    thread = ServerThread(server, background=[director.run])
    show = ColourShow(sink, thread, thread.start())
    show._painter = threading.Thread(target=show.paint, name="test-painter", daemon=True)
    show._painter.start()
    return show


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def xr_browser(profile: Path) -> Any:
    """Headless Chromium with SwiftShader WebGL (skips, saying why, without chromium/chromedriver/selenium)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the selenium package is not installed")
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    if not (Path(CHROMEDRIVER).is_file() and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"chromedriver is not installed at {CHROMEDRIVER} (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--use-angle=swiftshader",  # WebGL on the CPU (no GPU here)
        "--enable-unsafe-swiftshader",
        "--ignore-gpu-blocklist",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=960,600",
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
        pytest.skip(f"IWER is not installed ({IWER_BUILD} is missing: `make browser` runs npm ci in tools/browser)")
    source = IWER_BUILD.read_text(encoding="utf-8") + "\n" + IWER_SETUP
    return driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})["identifier"]


def remove_iwer(driver: Any, identifier: str) -> None:
    driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})


def page_errors(driver: Any) -> list[str]:
    """The console's errors since the last call (and warnings from our own page), IWER's chatter aside."""
    found = []
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE" or (entry["level"] == "WARNING" and "Laterna" in entry["message"]):
            found.append(entry["message"])
    return found
