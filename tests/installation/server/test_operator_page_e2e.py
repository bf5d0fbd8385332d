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


@pytest.fixture()
def zoned_show(tmp_path):
    """A hub-like panel with two zones (a ShowControl and a Director each, behind one ZoneControl) and three
    render nodes: one in each zone and one of a zone the hub does not direct."""
    from installation.bus.base import NodeStatus
    from installation.control.zone_control import ZoneControl

    nodes = [
        NodeStatus("n2", "green", "room-2"),
        NodeStatus("n9", "late", "room-9"),
        NodeStatus("n1", "green", "room-1"),
    ]
    posted: dict[str, list] = {"room-1": [], "room-2": []}
    controls, directors = {}, {}
    for zone in posted:
        director, _ = make_director(min_show_s=60.0)
        view = LoopView(posted[zone].append, lambda: {"fps": 30.0}, lambda: StyleMix.single(3, 0), lambda: None)
        controls[zone] = ShowControl(
            view, director, [s.name for s in STYLES], tmp_path, WarningLog(), nodes=lambda: nodes
        )
        directors[zone] = director
    control = ZoneControl(controls, labels=lambda zone: f"{zone} look")
    server = PromptServer(
        directors["room-1"],
        VisitorServerSettings(host="127.0.0.1", port=0, page_title="Laterna zones", state_interval_s=0.2),
        operator_token=TOKEN,
        control=control,  # type: ignore[arg-type]
    )
    thread = ServerThread(server, background=[d.run for d in directors.values()])
    port = thread.start()
    yield f"http://127.0.0.1:{port}/operator", thread, directors, posted
    thread.stop()


def test_the_panel_groups_nodes_by_zone_and_sends_commands_to_the_chosen_zone(browser, zoned_show):  # noqa: F811
    """On a hub with zones the panel lists each zone with its label and queue length, groups the render nodes
    under their zone (a node of a zone the hub does not direct last, said so), and Blackout with room-2
    chosen blacks out room-2 only."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, thread, directors, posted = zoned_show
    thread.submit(directors["room-2"].submit("visitor", "green moss")).result(WAIT_S)
    thread.submit(directors["room-2"].submit("another", "fire glow at night")).result(WAIT_S)
    browser.get(url)
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    _wait(
        browser,
        lambda d: d.find_elements(By.ID, "zones-card") and d.find_element(By.ID, "zones-card").is_displayed(),
        "the zones",
    )
    rows = _wait(browser, lambda d: [li.text for li in d.find_elements(By.CSS_SELECTOR, "#zones li")], "the zone rows")
    assert rows[0].startswith("room-1") and "room-1 look" in rows[0] and "0 waiting" in rows[0]
    _wait(
        browser,
        lambda d: any(
            li.text.startswith("room-2") and "1 waiting" in li.text
            for li in d.find_elements(By.CSS_SELECTOR, "#zones li")
        ),
        "room-2's queue",
    )
    nodes = _wait(browser, lambda d: [li.text for li in d.find_elements(By.CSS_SELECTOR, "#nodes li")], "the nodes")
    assert [n.split()[0] for n in nodes] == ["room-1", "n1", "room-2", "n2", "room-9", "n9"]
    assert "not directed" in nodes[4]
    Select(browser.find_element(By.ID, "zone-target")).select_by_value("room-2")
    browser.find_element(By.ID, "blackout").click()
    _wait(browser, lambda d: Blackout(True) in posted["room-2"], "room-2's blackout")
    assert Blackout(True) not in posted["room-1"]
