"""The live picture in a real headless Chromium, from a real running show: an ``<img>`` of /stream.mjpg and the
JPEG websocket drawn on a canvas, their pixels read back and compared with what the show rendered.

Uses the visitor page test's ``browser`` fixture (Debian ``chromium`` and ``chromium-driver``, PyPI
``selenium``) and skips cleanly the same way without them.
"""

import numpy as np
import pytest

from tests.installation.server.stream_show import (
    HEIGHT,
    WIDTH,
    MjpegReader,
    difference,
    start_streaming_show,
    wait_for,
)
from tests.installation.server.test_visitor_page_e2e import WAIT_S, browser  # noqa: F401  (the shared Chromium)

pytestmark = pytest.mark.slow

TOKEN = "e2e-streams-token-7c2e41"
MATCH = 3.0  # as in test_stream_routes: a decoded JPEG against its frame at a quarter size

# Draws an element (an <img> or a canvas) onto a fresh canvas at the stream's size and returns its RGBA bytes.
READ_PIXELS = """
const [selector, w, h] = arguments;
const source = document.querySelector(selector);
const canvas = document.createElement("canvas");
canvas.width = w; canvas.height = h;
const g = canvas.getContext("2d");
g.drawImage(source, 0, 0, w, h);
return Array.from(g.getImageData(0, 0, w, h).data);
"""

SHOW_MJPEG = """
const img = document.createElement("img");
img.id = "mjpeg";
img.src = "/stream.mjpg";
document.body.append(img);
"""

SHOW_JPEG_WS = """
window.streamTest = { hello: null, frames: 0, errors: [] };
const canvas = document.createElement("canvas");
canvas.id = "wscanvas";
document.body.append(canvas);
const ws = new WebSocket(`ws://${location.host}/stream/ws`);
ws.binaryType = "blob";
ws.onerror = () => window.streamTest.errors.push("error");
ws.onmessage = async (event) => {
  if (typeof event.data === "string") { window.streamTest.hello = JSON.parse(event.data); return; }
  const bitmap = await createImageBitmap(event.data);
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  window.streamTest.frames += 1;
};
window.streamTestSocket = ws;
"""


@pytest.fixture(scope="module")
def running(tiny_model, tmp_path_factory):
    show = start_streaming_show(tiny_model, tmp_path_factory.mktemp("streams-e2e"), operator_token=TOKEN)
    yield show
    show.stop()


def _pixels(driver, selector: str) -> np.ndarray:
    rgba = np.asarray(driver.execute_script(READ_PIXELS, selector, WIDTH, HEIGHT), np.uint8)
    return rgba.reshape(HEIGHT, WIDTH, 4)[:, :, :3]


def test_an_img_of_the_mjpeg_stream_plays_the_shows_picture(browser, running):  # noqa: F811
    """An <img src=/stream.mjpg> has the output's size, shows a frame the show rendered, and keeps changing."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"http://127.0.0.1:{running.port}/status")  # any page of the show's own origin
    browser.execute_script(SHOW_MJPEG)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return document.getElementById('mjpeg').naturalWidth") > 0,
        message="the MJPEG <img> never showed a frame",
    )
    size = browser.execute_script(
        "const i = document.getElementById('mjpeg'); return [i.naturalWidth, i.naturalHeight]"
    )
    assert size == [WIDTH, HEIGHT]
    first = _pixels(browser, "#mjpeg")
    assert running.closest_rendered(first) < MATCH
    assert running.closest_rendered(np.ascontiguousarray(first[::-1, ::-1])) > 3 * MATCH
    seen = running.frames
    assert wait_for(lambda: running.frames > seen + 45)  # about 1.5 s of show later
    assert difference(first, _pixels(browser, "#mjpeg")) > 1.0  # the <img> follows the live picture
    browser.execute_script("const i = document.getElementById('mjpeg'); i.src = 'data:,'; i.remove()")  # stops it
    assert wait_for(lambda: running.streams.viewer_count == 0, 15)


def test_the_jpeg_websocket_draws_the_shows_picture_in_the_browser(browser, running):  # noqa: F811
    """A page's WebSocket to /stream/ws gets the hello, then JPEG frames that decode (createImageBitmap) to what
    the show rendered; closing the socket ends the viewer."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"http://127.0.0.1:{running.port}/status")
    browser.execute_script(SHOW_JPEG_WS)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return window.streamTest.frames") >= 5, message="no JPEG frames drawn"
    )
    hello = browser.execute_script("return window.streamTest.hello")
    assert (hello["type"], hello["width"], hello["height"]) == ("hello", WIDTH, HEIGHT)
    assert browser.execute_script("return [window.streamTest.errors, wscanvas.width, wscanvas.height]") == [
        [],
        WIDTH,
        HEIGHT,
    ]
    assert running.closest_rendered(_pixels(browser, "#wscanvas")) < MATCH
    assert [v.kind for v in running.streams.viewers()] == ["jpeg-ws"]
    browser.execute_script("window.streamTestSocket.close()")
    assert wait_for(lambda: running.streams.viewer_count == 0, 15)


def test_the_operator_panel_lists_a_stream_viewer_and_closes_it(browser, running):  # noqa: F811
    """Signed in, the panel's Stream viewers card lists an MJPEG viewer by client program with the output's
    cost; its Close button ends that viewer's stream."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    reader = MjpegReader(running.port)
    try:
        reader.next()
        browser.get(f"http://127.0.0.1:{running.port}/operator")
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, "form button").click()
        rows = WebDriverWait(browser, WAIT_S).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#stream-viewers li"), message="the stream viewer's row"
        )
        assert "mjpeg · main · stream-test/1.0" in rows[0].text
        assert browser.find_element(By.ID, "stream-count").text == "1"
        assert "main 160×90: 1 watching" in browser.find_element(By.ID, "stream-outputs").text
        rows[0].find_element(By.TAG_NAME, "button").click()
        assert wait_for(lambda: running.streams.viewer_count == 0, 15)
        WebDriverWait(browser, WAIT_S).until(
            lambda d: d.find_element(By.ID, "stream-empty").is_displayed(), message="the card to say nobody watches"
        )
    finally:
        reader.close()
