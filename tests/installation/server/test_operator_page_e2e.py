"""The operator panel in a real headless Chromium, against a real PromptServer, Director and ShowControl.

Uses the visitor page test's ``browser`` fixture (Debian ``chromium`` and ``chromium-driver``, PyPI
``selenium``) and skips cleanly the same way without them.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from engine.events import Blackout, SelectSource
from engine.style import StyleMix
from installation.control.show_control import LoopView, ShowControl, WarningLog
from installation.server.prompt_server import PromptServer, ServerThread, VisitorServerSettings
from tests.installation.prompts.toy_director import STYLES, make_director
from tests.installation.server.test_visitor_page_e2e import WAIT_S, browser  # noqa: F401  (the shared Chromium)

pytestmark = pytest.mark.slow

TOKEN = "e2e-operator-token-5b1d9c"


@dataclass
class Show:
    url: str
    thread: ServerThread
    director: object
    posted: list


@pytest.fixture()
def show(tmp_path):
    """A real server in a background loop with the operator side on; the Director waits a minute per prompt."""
    director, _ = make_director(min_show_s=60.0)
    posted: list = []
    frame = np.full((90, 160, 3), (220, 140, 40), np.uint8)
    view = LoopView(
        posted.append,
        lambda: {"fps": 30.0, "latency_ms": {"p50": 42.0}, "backend": "toy"},
        lambda: StyleMix.single(3, 0),
        lambda: frame,
        sources=("live", "generator"),
        selected_source=lambda: "live",
    )
    control = ShowControl(view, director, [s.name for s in STYLES], tmp_path, WarningLog())
    server = PromptServer(
        director,
        VisitorServerSettings(host="127.0.0.1", port=0, page_title="Laterna test", state_interval_s=0.2),
        operator_token=TOKEN,
        control=control,
    )
    thread = ServerThread(server, background=[director.run])
    port = thread.start()
    yield Show(f"http://127.0.0.1:{port}/operator", thread, director, posted)
    thread.stop()


def _wait(driver, condition, what: str):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page that navigates (sign-in) or re-renders between finding an element and reading it makes the
    # element stale: that is "not yet", so ask again.
    return WebDriverWait(
        driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, message=f"waited for {what}")


def test_operator_signs_in_sees_the_show_and_turns_blackout_on(browser, show):  # noqa: F811
    """Sign in with the token (a wrong one is refused), the token leaves the address bar, the panel shows
    fps, preview and queue (visitor text as text), Remove, Blackout and the source buttons work, and a reload
    stays signed in."""
    from selenium.webdriver.common.by import By

    browser.get(show.url)
    assert "needs the operator token" in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    _wait(browser, lambda d: "not right" in d.find_element(By.TAG_NAME, "body").text, "the wrong-token page")

    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    connection = _wait(browser, lambda d: d.find_elements(By.ID, "connection"), "the panel")[0]
    assert browser.current_url == show.url  # the token is out of the address bar ...
    assert browser.execute_script("return sessionStorage.getItem('laterna.operator.token')") == TOKEN  # ... kept here
    _wait(browser, lambda d: connection.get_attribute("data-state") == "open", "the panel to connect")
    _wait(browser, lambda d: d.find_element(By.ID, "fps").text == "30.0", "the state")
    _wait(
        browser,
        lambda d: (d.find_element(By.ID, "preview").get_attribute("src") or "").startswith("blob:"),
        "the preview",
    )

    show.thread.submit(show.director.submit("visitor", "green moss")).result(WAIT_S)  # shown at once
    show.thread.submit(show.director.submit("another", "<b>bold</b> fire glow")).result(WAIT_S)  # waits
    _wait(browser, lambda d: "green moss" in d.find_element(By.ID, "prompt").text, "the prompt on screen")
    queued = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue li"), "the queue")[0]
    assert "<b>bold</b> fire glow" in queued.text  # shown as written, not as HTML
    queued.find_element(By.TAG_NAME, "button").click()
    _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#queue li"), "the prompt to be removed")

    blackout = browser.find_element(By.ID, "blackout")
    blackout.click()
    _wait(browser, lambda d: blackout.get_attribute("aria-pressed") == "true", "blackout on")
    assert Blackout(True) in show.posted

    dream = browser.find_element(By.CSS_SELECTOR, '#sources button[data-source="generator"]')
    assert browser.find_element(By.ID, "sources").is_displayed()
    assert (
        browser.find_element(By.CSS_SELECTOR, '#sources button[data-source="live"]').get_attribute("aria-pressed")
        == "true"
    )
    dream.click()
    _wait(browser, lambda d: SelectSource("generator") in show.posted, "the switch to the generator")

    browser.refresh()  # the sign-in page finds the token in this tab and goes back to the panel
    connection = _wait(browser, lambda d: d.find_elements(By.ID, "connection"), "the panel again")[0]
    _wait(browser, lambda d: connection.get_attribute("data-state") == "open", "the panel to reconnect")
    assert browser.current_url == show.url

    problems = [
        e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "status of 40" not in e["message"]
    ]  # the sign-in pages are 401/403 on purpose
    assert problems == []
