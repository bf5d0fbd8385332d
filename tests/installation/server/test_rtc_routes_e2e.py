"""WebRTC in a real headless Chromium, from a real running show on loopback: the page gathers its candidates,
offers over /rtc, and a <video> plays the show's picture at the output's size, changing over time.

Loopback WebRTC needs, in the test only: Chromium flags ``--allow-loopback-in-peer-connection`` and
``--disable-features=WebRtcHideLocalIpsWithMdns`` (no .local names it cannot resolve without mDNS), and
aioice's 127.0.0.1 host candidate (``loopback_ice``), which the product leaves out. Skips cleanly without
Chromium, chromedriver, selenium or aiortc.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from tests.installation.server.stream_show import HEIGHT, WIDTH, difference, start_streaming_show, wait_for
from tests.installation.server.test_visitor_page_e2e import CHROMEDRIVER, WAIT_S, _chromium

pytestmark = pytest.mark.slow

MATCH = 8.0  # a VP8 frame drawn from a <video> against the show's frame, mean abs difference at a quarter size

# The page side of the protocol in docs/protocol.md: offer after ICE gathering completes (non-trickle).
WATCH = """
window.rtcTest = { reply: null, error: null, state: null };
const video = document.createElement("video");
video.id = "rtcvideo"; video.muted = true; video.autoplay = true; video.playsInline = true;
document.body.append(video);
const pc = new RTCPeerConnection({ iceServers: [] });
window.rtcTestPeer = pc;
pc.addTransceiver("video", { direction: "recvonly" });
pc.ontrack = (event) => {
  video.srcObject = event.streams[0] || new MediaStream([event.track]);
  video.play().catch((err) => { window.rtcTest.error = String(err); });
};
pc.onconnectionstatechange = () => { window.rtcTest.state = pc.connectionState; };
(async () => {
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise((done) => pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && done()));
  }
  const ws = new WebSocket(`ws://${location.host}/rtc`);
  ws.onopen = () => ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
  ws.onmessage = async (event) => {
    const reply = JSON.parse(event.data);
    window.rtcTest.reply = reply.type;
    if (reply.type === "answer") await pc.setRemoteDescription(reply);
    else window.rtcTest.error = reply;
  };
})().catch((err) => { window.rtcTest.error = String(err); });
"""

READ_VIDEO = """
const video = document.getElementById("rtcvideo");
const canvas = document.createElement("canvas");
canvas.width = video.videoWidth; canvas.height = video.videoHeight;
const g = canvas.getContext("2d");
g.drawImage(video, 0, 0);
return Array.from(g.getImageData(0, 0, canvas.width, canvas.height).data);
"""


@pytest.fixture(scope="module")
def rtc_browser(tmp_path_factory):
    """Headless Chromium that may use loopback for WebRTC and shows real host addresses (test-only flags)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the selenium package is not installed")
    pytest.importorskip("aiortc", reason="aiortc is not installed (pip install '.[xr]')")
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
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-rtc-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def running(rtc_browser, tiny_model, tmp_path_factory):
    from tests.installation.server.rtc_client import loopback_ice

    with loopback_ice():
        show = start_streaming_show(tiny_model, tmp_path_factory.mktemp("rtc-e2e"))
        yield show
        show.stop()


def _video_pixels(driver) -> np.ndarray:
    rgba = np.asarray(driver.execute_script(READ_VIDEO), np.uint8)
    return rgba.reshape(HEIGHT, WIDTH, 4)[:, :, :3]


def test_a_video_element_plays_the_shows_picture_over_webrtc(rtc_browser, running):
    """The <video> plays (time advances) at the output's size, shows a frame the show rendered, and follows the live
    picture; closing the page's peer ends the viewer on the show."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser = rtc_browser
    browser.get(f"http://127.0.0.1:{running.port}/status")
    browser.execute_script(WATCH)
    from selenium.common.exceptions import TimeoutException

    try:
        WebDriverWait(browser, WAIT_S * 2).until(
            lambda d: d.execute_script(
                "const v = document.getElementById('rtcvideo'); return window.rtcTest.error || "
                "(v.videoWidth > 0 && v.currentTime > 0.3)"
            )
        )
    except TimeoutException:
        state = browser.execute_script(
            "const v = document.getElementById('rtcvideo'); return [window.rtcTest, v.videoWidth, v.currentTime, "
            "v.readyState, window.rtcTestPeer.iceConnectionState, window.rtcTestPeer.localDescription.sdp]"
        )
        pytest.fail(f"the WebRTC <video> never played: {state}")
    assert browser.execute_script("return window.rtcTest.error") is None
    assert browser.execute_script("return window.rtcTest.reply") == "answer"
    size = browser.execute_script("const v = document.getElementById('rtcvideo'); return [v.videoWidth, v.videoHeight]")
    assert size == [WIDTH, HEIGHT]
    first = _video_pixels(browser)
    assert running.closest_rendered(first) < MATCH
    assert running.closest_rendered(np.ascontiguousarray(first[::-1, ::-1])) > 2 * MATCH
    seen = running.frames
    assert wait_for(lambda: running.frames > seen + 45)  # about 1.5 s of show later
    assert difference(first, _video_pixels(browser)) > 1.0  # the video follows the live picture
    assert [v.kind for v in running.streams.viewers()] == ["webrtc"]
    browser.execute_script("window.rtcTestPeer.close()")
    assert wait_for(lambda: running.streams.viewer_count == 0, 45)
