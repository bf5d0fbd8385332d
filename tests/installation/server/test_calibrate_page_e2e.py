"""The projector calibration page in a real headless Chromium, against a real running show: two projector
windows (SDL's dummy driver), the frame loop, the server, the operator token, the show's YAML file.

Uses the visitor page test's ``browser`` fixture (Debian ``chromium`` and ``chromium-driver``, PyPI
``selenium``) and skips cleanly the same way without them.
"""

import threading

import numpy as np
import pytest
import yaml

from engine.sinks.window import ProjectorSink
from installation.app import Installation
from installation.config.schema import load_config
from tests.installation.server.test_visitor_page_e2e import WAIT_S, browser  # noqa: F401  (the shared Chromium)
from tests.installation.test_app import wait_for

pytestmark = pytest.mark.slow

TOKEN = "e2e-calibration-token-7c2e41"


def _show_file(tmp_path, tiny_model):
    path = tmp_path / "show.yaml"
    data = {
        "source": {"type": "pattern", "width": 176, "height": 54},
        "model": {"manifest": str(tiny_model.path), "sessions": 1},
        "pipeline": {"width": 176, "height": 54, "workers": 1},
        "style": {"start": {"moss": 1.0}},
        "display": [
            {"type": "window", "width": 96, "height": 54, "vsync": False, "region": [0, 0, 96, 54]},
            {"width": 96, "height": 54, "vsync": False, "region": [80, 0, 96, 54]},
        ],
        "server": {"port": 0, "host": "127.0.0.1", "join_hint": False, "state_interval_s": 0.2},
        "attract": {"enabled": False},
    }
    path.write_text("# the test show\n" + yaml.safe_dump(data))
    return path


def test_a_point_dragged_on_the_page_moves_the_running_windows_mesh_and_saves(
    browser,  # noqa: F811
    tiny_model,
    tmp_path,
    monkeypatch,
):
    """From the panel's link to /operator/calibrate (signed in from the tab's token), Test pattern puts the
    pattern on the projectors; dragging the second projector's centre point with the mouse moves that window's
    mesh point in the running show (an arrow key nudges it on); Save writes it into the show's file, the old
    file kept as .bak; Test pattern again gives the show back."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", TOKEN)
    path = _show_file(tmp_path, tiny_model)
    original = path.read_text()
    inst = Installation(load_config(path), headless=False)
    windows = [s for s in inst.show.sinks if isinstance(s, ProjectorSink)]
    loop = inst.show.loop
    seen: dict = {}

    def until(condition, what):
        return WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(lambda d: condition(), message=what)

    def technician():
        try:
            assert wait_for(lambda: inst.server_thread is not None and loop.stats.frames > 0, 60)
            browser.get(f"http://127.0.0.1:{inst.port}/operator")
            browser.find_element(By.ID, "token").send_keys(TOKEN)
            browser.find_element(By.CSS_SELECTOR, "form button").click()
            until(lambda: browser.find_element(By.ID, "calibrate-link").is_displayed(), "the panel's calibrate link")
            browser.find_element(By.ID, "calibrate-link").click()  # signs in again from sessionStorage on its own
            until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "canvas[data-output]")) == 2, "two canvases")
            until(lambda: browser.find_element(By.ID, "connection").get_attribute("data-state") == "open", "connected")

            browser.find_element(By.ID, "pattern").click()
            until(lambda: browser.find_element(By.ID, "pattern").get_attribute("aria-pressed") == "true", "pattern on")
            pattern = inst.control.calibration.test_pattern()
            seen["pattern_shown"] = wait_for(lambda: np.array_equal(loop.on_screen, pattern), WAIT_S)

            canvas = browser.find_element(By.CSS_SELECTOR, "canvas[data-output='2']")
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
            width = browser.execute_script("return arguments[0].getBoundingClientRect().width", canvas)
            seen["width"] = width
            ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(-30, 10).move_by_offset(
                -10, 5
            ).release().perform()
            height = browser.execute_script("return arguments[0].getBoundingClientRect().height", canvas)
            inset = int(canvas.get_attribute("data-inset"))  # black around the picture, in CSS px
            seen["expected"] = (0.5 - 40 / (width - 1 - 2 * inset), 0.5 + 15 / (height - 1 - 2 * inset))
            seen["dragged"] = wait_for(
                lambda: (
                    windows[1].mesh is not None
                    and np.allclose(windows[1].mesh[2, 2], seen["expected"], atol=1.5 / min(width, height))
                ),
                WAIT_S,
            )
            seen["after_drag"] = None if windows[1].mesh is None else tuple(windows[1].mesh[2, 2])
            canvas.send_keys(Keys.ARROW_RIGHT)
            seen["nudged"] = wait_for(
                lambda: (
                    windows[1].mesh is not None
                    and abs(windows[1].mesh[2, 2][0] - (seen["after_drag"][0] + 0.002)) < 1e-6
                ),
                WAIT_S,
            )
            seen["selected"] = browser.find_element(By.ID, "selected").text
            seen["first_untouched"] = windows[0].mesh is None

            browser.find_element(By.ID, "save").click()
            until(lambda: "Saved to" in browser.find_element(By.ID, "feedback").text, "saved")
            browser.find_element(By.ID, "pattern").click()
            seen["show_back"] = wait_for(  # the show's own picture again, not the (newest) pattern
                lambda: not np.array_equal(loop.on_screen, inst.control.calibration.test_pattern()), WAIT_S
            )
        finally:
            inst.stop()

    t = threading.Thread(target=technician)
    t.start()
    inst.run(seconds=150)
    t.join()
    assert seen["pattern_shown"]
    assert seen["dragged"], (seen.get("after_drag"), seen["expected"])
    assert seen["nudged"] and seen["first_untouched"]
    assert seen["selected"].startswith("Projector 2 · mesh point 13")
    saved = load_config(path).display.all_outputs[1].mesh[2][2]
    assert np.allclose(saved, (seen["after_drag"][0] + 0.002, seen["after_drag"][1]), atol=1e-4)
    assert load_config(path).display.all_outputs[0].mesh == ()  # the first projector was not touched
    assert (tmp_path / "show.yaml.bak").read_text() == original and "# the test show" in path.read_text()
    assert seen["show_back"]
