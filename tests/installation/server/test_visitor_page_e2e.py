"""The visitor page in a real headless Chromium, against a real PromptServer and Director.

Needs the Debian packages ``chromium`` and ``chromium-driver`` and the PyPI package ``selenium``;
skips cleanly (with the reason) without them. The ``show`` fixture is the one place to change to
run the page against a fuller show (the real sentence embedder, or the engine's frame loop).
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from installation.server.prompt_server import PromptServer, ServerThread, VisitorServerSettings
from tests.installation.prompts.toy_director import make_director

pytestmark = pytest.mark.slow

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 30.0  # Chromium starts slowly on a busy 2-core machine; a passing run takes a few seconds


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by chromedriver, with a fresh profile; skipped if either is missing."""
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
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=412,915",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@dataclass
class Show:
    """What a test can reach: the page address, the server's thread, the Director and its engine events."""

    url: str
    port: int
    thread: ServerThread
    director: object
    posted: list


def start_show(port: int = 0, min_show_s: float = 0.0) -> Show:
    """A real PromptServer and Director in a background loop. Change this to run the page against a
    fuller show (the real sentence embedder, or the engine's frame loop posting to a real pipeline)."""
    director, posted = make_director(min_show_s=min_show_s)
    server = PromptServer(director, VisitorServerSettings(host="127.0.0.1", port=port, page_title="Laterna test"))
    thread = ServerThread(server, background=[director.run])
    port = thread.start()
    return Show(f"http://127.0.0.1:{port}/", port, thread, director, posted)


@pytest.fixture()
def show():
    show = start_show()
    yield show
    show.thread.stop()


def _wait(driver, condition, what: str):
    """Poll ``condition(driver)`` until it is truthy (and return that) or fail naming ``what`` after WAIT_S; with
    driver None it waits on anything, e.g. the engine's frames."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page that navigates (sign-in) or re-renders between finding an element and reading it makes the
    # element stale: that is "not yet", so ask again.
    return WebDriverWait(
        driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, message=f"waited for {what}")


def _feedback(kind: str):
    from selenium.webdriver.common.by import By

    def condition(driver):
        element = driver.find_element(By.ID, "feedback")
        return element if element.get_attribute("data-kind") == kind else False

    return condition


def test_visitor_types_a_prompt_and_sees_it_shown(browser, show):
    """Open the page, type a prompt, press Send: the page says 'Now showing' and the engine got the target."""
    from selenium.webdriver.common.by import By

    browser.get(show.url)
    assert browser.title == "Laterna test"
    send = browser.find_element(By.ID, "send")
    _wait(browser, lambda d: send.is_enabled(), "the page to connect")
    assert browser.find_element(By.ID, "connection").get_attribute("data-state") == "open"

    box = browser.find_element(By.ID, "prompt")
    box.send_keys("warm fire glow over the harbour")
    assert browser.find_element(By.ID, "counter").text == "31 / 280"
    send.click()
    shown = _wait(browser, _feedback("showing"), "'now showing'")
    assert "Now showing" in shown.text and "warm fire glow over the harbour" in shown.text
    assert any(getattr(e, "label", "") == "warm fire glow over the harbour" for e in show.posted)

    # A blocked prompt is declined in plain words, on the same connection.
    _wait(browser, lambda d: send.is_enabled(), "the send cooldown")
    box.clear()
    box.send_keys("sh1t")
    send.click()
    declined = _wait(browser, _feedback("declined"), "'declined'")
    assert declined.text.startswith("Declined:") and "sh1t" not in declined.text

    # Nothing was blocked by the page's Content-Security-Policy and no script failed.
    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []


def test_page_reconnects_when_the_server_comes_back(browser, show):
    """When the server goes away the page says so, and reconnects by itself once it is back."""
    from selenium.webdriver.common.by import By

    browser.get(show.url)
    connection = browser.find_element(By.ID, "connection")
    _wait(browser, lambda d: connection.get_attribute("data-state") == "open", "the page to connect")
    show.thread.stop()
    _wait(browser, lambda d: connection.get_attribute("data-state") != "open", "the page to notice")
    again = start_show(show.port)
    try:
        _wait(browser, lambda d: connection.get_attribute("data-state") == "open", "the page to reconnect")
    finally:
        again.thread.stop()


def test_a_reloaded_page_keeps_its_place_in_the_queue(browser):
    """A prompt waiting behind another survives the page reloading (a phone waking up): the new connection
    resumes it, the page says 'Queued' again, and the Director still holds the same prompt."""
    from selenium.webdriver.common.by import By

    show = start_show(min_show_s=60.0)
    try:
        show.thread.submit(show.director.submit("someone", "ink mist")).result(WAIT_S)  # on screen for a minute
        browser.get(show.url)
        send = browser.find_element(By.ID, "send")
        _wait(browser, lambda d: send.is_enabled(), "the page to connect")
        browser.find_element(By.ID, "prompt").send_keys("green moss at dawn")
        send.click()
        _wait(browser, _feedback("queued"), "'queued'")
        before = [p.id for p in show.director.queue.pending()]
        browser.refresh()
        queued = _wait(browser, _feedback("queued"), "'queued' after the reload")
        assert "position 1" in queued.text
        assert [p.id for p in show.director.queue.pending()] == before and len(before) == 1
        assert not show.thread.server.sessions.kept  # taken back by the new connection, not just waiting for it
        assert browser.find_element(By.ID, "connection").get_attribute("data-state") == "open"
    finally:
        show.thread.stop()


def test_prompt_in_the_browser_restyles_the_engine_output(browser, tiny_model):
    """End to end: a prompt typed in Chromium reaches the Director, the frame loop glides, and its output
    frames change (pixel difference) while the camera picture stays still."""
    import threading

    import numpy as np
    from selenium.webdriver.common.by import By

    from engine.backends.onnxruntime import OnnxRuntimeBackend
    from engine.loop import FrameLoop
    from engine.pipeline import Stylizer
    from engine.sinks.headless import HeadlessSink
    from engine.sources.pattern import PatternSource
    from engine.style import StyleMix
    from installation.prompts.director import Director, DirectorSettings
    from installation.prompts.interpreter import Interpreter
    from tests.installation.prompts.toy_director import STYLES, toy_embed

    class Still(PatternSource):
        def read(self):
            if getattr(self, "_given", False):
                return None
            self._given = True
            return super().read()

    class Keep(HeadlessSink):
        def __init__(self):
            super().__init__()
            self.frames = []

        def show(self, frame):
            super().show(frame)
            self.frames.append(frame.pixels.copy())

    sink = Keep()
    source = Still(width=96, height=54, fps=30)
    source.open()
    loop = FrameLoop(
        source,
        Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (96, 54)),
        [sink],
        StyleMix.single(3, 0),
        (96, 54),
        display_fps=30,
        transition_s=0.5,
    )
    runner = threading.Thread(target=loop.run, kwargs={"duration": 60}, daemon=True)
    runner.start()
    director = Director(loop.post, Interpreter(toy_embed, STYLES), settings=DirectorSettings(min_show_s=0, tick_s=0.02))
    server = PromptServer(director, VisitorServerSettings(host="127.0.0.1", port=0, page_title="Laterna test"))
    thread = ServerThread(server, background=[director.run])
    port = thread.start()

    def changed() -> float:
        return float(np.abs(sink.frames[-1].astype(int) - before).mean())

    try:
        _wait(None, lambda _: len(sink.frames) >= 1, "the first frame")  # a still source: one, until the mix moves
        before = sink.frames[-1].astype(int)
        browser.get(f"http://127.0.0.1:{port}/")
        send = browser.find_element(By.ID, "send")
        _wait(browser, lambda d: send.is_enabled(), "the page to connect")
        browser.find_element(By.ID, "prompt").send_keys("warm fire glow")
        send.click()
        _wait(browser, _feedback("showing"), "'now showing'")
        _wait(None, lambda _: loop.stats.snapshot()["mix"].get("ember", 0) > 0.99, "the glide to 'ember'")
        _wait(None, lambda _: changed() > 2.0, "a frame drawn in the new style")
    finally:
        thread.stop()
        loop.post(__import__("engine.events", fromlist=["Stop"]).Stop())
        runner.join(timeout=10)
    assert loop.stats.snapshot()["mix"]["ember"] > 0.99
    assert changed() > 2.0  # the picture changed with the style, not with the scene (which stays still)


def test_outside_opening_hours_the_page_says_closed_and_when_it_opens(browser, show):
    """While the show is closed the page shows the notice with when it opens and Send stays disabled;
    when it opens again the notice goes and Send comes back."""
    import datetime as dt

    from selenium.webdriver.common.by import By

    from installation.control.schedule import OpeningHours

    async def set_hours(hours):  # on the server's loop, which owns the Director
        show.director.hours = hours
        show.director.now = lambda: dt.datetime(2026, 12, 3, 20, 30)  # a Thursday evening

    show.thread.submit(set_hours(OpeningHours({"mon-fri": "10:00-18:00"}))).result(WAIT_S)
    browser.get(show.url)
    notice = browser.find_element(By.ID, "notice")
    _wait(browser, lambda d: notice.is_displayed() and notice.get_attribute("data-note") == "closed", "the notice")
    assert "closed" in notice.text and "tomorrow at 10:00" in notice.text
    send = browser.find_element(By.ID, "send")
    assert browser.find_element(By.ID, "connection").get_attribute("data-state") == "open" and not send.is_enabled()
    show.thread.submit(set_hours(None)).result(WAIT_S)
    _wait(browser, lambda d: not notice.is_displayed() and send.is_enabled(), "the show to open")
