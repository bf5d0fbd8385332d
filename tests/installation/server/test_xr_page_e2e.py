"""The WebXR viewer (/xr) in headless Chromium with SwiftShader WebGL, against a real server streaming a
picture the test controls (xr_show.py). An emulated Meta Quest 3 (Meta's IWER, injected by the test's
browser, never served by the show) enters immersive-vr and immersive-ar; pixels read back from the WebGL
canvas follow the live picture. Without WebXR the page is a magic window, or plain video.

Needs chromium, chromium-driver, selenium and (for the XR tests) npm's ``iwer`` in tools/browser
(`make browser`); skips cleanly, saying which is missing.
"""

from __future__ import annotations

import pytest

from tests.installation.server.xr_show import install_iwer, start_colour_show, xr_browser
from tools.xr_browser import page_errors, remove_iwer, wait_for, xr_sample, xr_select, xr_state

pytestmark = pytest.mark.slow

RED = [200, 40, 40]
BLUE = [30, 60, 220]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = xr_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def blank_page(browser):
    """Each test starts from a blank page with the console read: the last test's page (whose show has gone and
    which keeps trying to reconnect) says nothing into this one's log."""
    browser.get("about:blank")
    page_errors(browser)


@pytest.fixture
def show():
    running = start_colour_show()
    yield running
    running.stop()


@pytest.fixture
def headset(browser):
    """The browser with IWER as its WebXR runtime, for this test only."""
    identifier = install_iwer(browser)
    yield browser
    remove_iwer(browser, identifier)


state = xr_state
sample = xr_sample


def close_to(colour: list[int], expected: list[int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour[:3], expected))


def shows(driver, expected: list[int]) -> list[int] | None:
    """The centre colour once it is close to ``expected`` (None if it never gets there)."""
    found = wait_for(lambda: (c := sample(driver)) and close_to(c, expected) and c)
    return found or None


def open_xr(driver, show) -> None:
    driver.get(show.url + "/xr")
    assert wait_for(lambda: state(driver).get("frames", 0) > 2), f"no live picture reached the page: {state(driver)}"
    page_errors(driver)  # start counting from here: the page has loaded


def test_vr_session_renders_the_live_picture_and_follows_it(show, headset):
    """An emulated headset enters immersive-vr from /xr; XR frames render the gallery's curved screen straight
        ahead, the pixels read back from the WebGL canvas turn from red to blue when the live picture does, and after
    the visitor turns away a squeeze recenters the screen straight ahead."""
    open_xr(headset, show)
    assert state(headset)["enterVr"] is True
    headset.find_element("id", "enter-vr").click()
    assert wait_for(lambda: state(headset).get("xrFrames", 0) > 5), state(headset)
    now = state(headset)
    assert now["mode"] == "vr" and now["presenting"] is True and now["via"] == "JPEG"
    assert shows(headset, RED), sample(headset)
    show.colour = BLUE
    assert shows(headset, BLUE), sample(headset)
    # The visitor turns a quarter left: the screen is off to the side. A grip squeeze recenters it ahead.
    headset.execute_script("window.__iwer.quaternion.set(0, Math.SQRT1_2, 0, Math.SQRT1_2)")
    assert wait_for(lambda: not close_to(sample(headset), BLUE, 60)), "turning did not move the view"
    headset.execute_script(
        "const c = window.__iwer.controllers.left; c.updateButtonValue('squeeze', 1);"
        "setTimeout(() => c.updateButtonValue('squeeze', 0), 200);"
    )
    assert shows(headset, BLUE), f"recentering did not bring the screen ahead: {sample(headset)}"
    frames = state(headset)["xrFrames"]
    assert wait_for(lambda: state(headset)["xrFrames"] > frames + 5), "XR frames stopped"
    headset.execute_script("window.laternaXR.leave()")  # the emulated canvas covers the page, as a headset does
    assert wait_for(lambda: state(headset)["mode"] == "window"), state(headset)
    assert page_errors(headset) == []


def test_ar_session_places_the_framed_canvas_where_the_hit_test_meets_the_wall(show, headset):
    """In immersive-ar the hit test finds the (emulated) wall 2 m ahead and shows the reticle; a select hangs
        the framed canvas there, whose pixels follow the live picture; the camera's view stays transparent; a select
    while looking at the floor moves it there, standing."""
    open_xr(headset, show)
    headset.find_element("id", "enter-ar").click()
    assert wait_for(lambda: state(headset).get("reticle")), f"no reticle: {state(headset)}"
    assert state(headset)["mode"] == "ar" and state(headset)["hitTest"] is True
    assert sample(headset)[3] < 255  # AR: the page's background is transparent (the camera shows through)
    assert not state(headset)["placed"]
    xr_select(headset)
    assert wait_for(lambda: state(headset)["placed"]), state(headset)
    x, y, z = state(headset)["placedAt"]
    # AR places in the "local" space: the origin is where the eyes (1.6 m up) were when the session began.
    assert abs(x) < 0.05 and abs(y) < 0.05 and abs(z + 1.98) < 0.03  # on the wall ahead, just off its surface
    assert state(headset)["placedFacing"] == pytest.approx([0, 0, 1], abs=0.01)  # flat against it, facing out
    assert shows(headset, RED), sample(headset)
    show.colour = BLUE
    assert shows(headset, BLUE), sample(headset)
    # Looking down at the floor, a second select moves the canvas there, standing upright and facing the visitor.
    headset.execute_script("window.__iwer.quaternion.set(-Math.sin(Math.PI / 6), 0, 0, Math.cos(Math.PI / 6))")
    # The select acts where the reticle is: wait for a frame whose hit test found the floor (a busy machine renders
    # the emulated headset at ~2 frames/s, and a select before that frame would hang the canvas on the wall again).
    assert wait_for(lambda: (r := state(headset)["reticleAt"]) is not None and r[2] > -1.5), state(headset)
    xr_select(headset)
    assert wait_for(lambda: state(headset)["placedAt"][2] > -1.5), state(headset)
    x, y, z = state(headset)["placedAt"]
    assert abs(z + 1.6 / 3**0.5) < 0.05 and 0.2 < y + 1.6 < 0.5  # where the gaze meets the floor, standing on it
    assert state(headset)["placedFacing"] == pytest.approx([0, 0, 1], abs=0.05)  # towards the eyes (give or take one)
    headset.execute_script("window.laternaXR.leave()")  # IWER has no DOM overlay: the Leave button is under its canvas
    assert wait_for(lambda: state(headset)["mode"] == "window"), state(headset)
    assert page_errors(headset) == []


def test_without_webxr_the_page_is_a_magic_window_that_pans_and_can_be_plain_video(show, browser):
    """Without a WebXR runtime the page offers no VR/AR buttons and shows the screen as a magic window: the
        live picture straight ahead, the wall when dragged aside, back on Recenter; in the 360 dome the picture is
    everywhere; Flat shows the plain picture."""
    open_xr(browser, show)
    now = state(browser)
    assert now["mode"] == "window" and not now["enterVr"] and not now["enterAr"]
    assert shows(browser, RED), sample(browser)
    view = browser.find_element("id", "view")
    from selenium.webdriver import ActionChains
    from selenium.webdriver.support.ui import Select

    def drag() -> None:  # from a point clear of the prompt box, a quarter turn's worth to the right
        chain = ActionChains(browser).move_to_element_with_offset(view, -300, -110)
        chain.click_and_hold().move_by_offset(400, 0).release().perform()

    drag()
    aside = sample(browser)
    assert not close_to(aside, RED, 60), f"dragging did not turn the view: {aside}"
    browser.find_element("id", "recenter").click()
    assert shows(browser, RED), sample(browser)
    Select(browser.find_element("id", "dome")).select_by_value("360")  # the picture all around
    drag()
    assert close_to(sample(browser), RED, 60), "the 360 dome should show the picture wherever one looks"
    Select(browser.find_element("id", "dome")).select_by_value("screen")
    browser.find_element("id", "flat").click()
    assert wait_for(lambda: state(browser)["mode"] == "flat")
    assert browser.execute_script("return document.querySelector('#flat-view > canvas, #flat-view > video') !== null")
    assert page_errors(browser) == []


def test_xr_viewers_are_listed_as_xr_and_the_operator_can_close_one(show, browser):
    """The page registers its stream as kind "xr" (listed on the operator panel); closing it there drops the
    page's stream, which says so and comes back by itself as a new viewer."""
    open_xr(browser, show)
    viewers = wait_for(lambda: [v for v in show.sink.viewers() if v.kind == "xr"])
    assert len(viewers) == 1 and viewers[0].output == "main"
    assert show.sink.close_viewer(viewers[0].id)
    assert wait_for(lambda: "Reconnecting" in browser.find_element("id", "picture-state").text)
    back = wait_for(lambda: [v for v in show.sink.viewers() if v.kind == "xr" and v.id != viewers[0].id])
    assert back, "the page did not come back"
    assert wait_for(lambda: browser.find_element("id", "picture-state").text == "")


def test_a_viewer_sends_a_prompt_like_any_visitor(show, browser):
    """The viewer's prompt box is the visitor page's: a prompt sent from /xr is shown ("Now showing") and
    reaches the engine; the page carries the show's title."""
    open_xr(browser, show)
    assert browser.title == "Laterna XR test in VR and AR"
    send = browser.find_element("id", "send")
    assert wait_for(send.is_enabled), "the prompt box did not connect"
    browser.find_element("id", "prompt").send_keys("a lantern over still water")
    send.click()
    assert wait_for(lambda: browser.find_element("id", "feedback").get_attribute("data-kind") == "showing")
    assert "a lantern over still water" in browser.find_element("id", "feedback").text
    assert any(getattr(e, "label", "") == "a lantern over still water" for e in show.posted)
    assert page_errors(browser) == []


def test_the_picture_comes_over_webrtc_when_the_show_offers_it(browser):
    """With WebRTC on (aiortc), the page gets the picture over the show's /rtc (and says so), is listed as an
    "xr" viewer, draws the video as a texture that follows the picture's colour, and logs no error."""
    pytest.importorskip("aiortc", reason="aiortc is not installed (the [xr] extra)")
    from tests.installation.server.rtc_client import loopback_ice

    with loopback_ice():  # (test only) aioice offers 127.0.0.1 too
        show = start_colour_show(webrtc={"enabled": True})
        try:
            browser.get(show.url + "/xr")
            assert wait_for(lambda: state(browser).get("via") == "WebRTC"), state(browser)
            assert browser.find_element("id", "via").text == "via WebRTC"
            assert [v.kind for v in show.sink.viewers()] == ["xr"]
            assert shows(browser, RED), sample(browser)
            show.colour = BLUE
            assert shows(browser, BLUE), sample(browser)
            assert page_errors(browser) == []
        finally:
            show.stop()


def test_when_webrtc_is_full_the_page_falls_back_to_the_jpeg_stream(browser):
    """When the show's WebRTC places are taken, the page's offer is refused ("full") and it shows the JPEG
    stream by itself, says so, and logs no error."""
    pytest.importorskip("aiortc", reason="aiortc is not installed (the [xr] extra)")
    import asyncio

    from tests.installation.server.rtc_client import RtcClient, loopback_ice

    with loopback_ice():
        show = start_colour_show(webrtc={"enabled": True, "max_viewers": 1})
        loop = asyncio.new_event_loop()

        async def watch() -> RtcClient:  # the one place is taken by a peer that is watching
            client = RtcClient()  # (made on its own loop: aiortc asks for the running one)
            assert (await client.connect(show.port))["type"] == "answer"
            await client.picture()
            return client

        client = None
        try:
            client = loop.run_until_complete(watch())
            browser.get(show.url + "/xr")
            assert wait_for(lambda: state(browser).get("frames", 0) > 2), state(browser)
            assert state(browser)["via"] == "JPEG" and browser.find_element("id", "via").text == "via JPEG"
            assert sorted(v.kind for v in show.sink.viewers()) == ["webrtc", "xr"]
            assert shows(browser, RED), sample(browser)
            assert page_errors(browser) == []
        finally:
            if client is not None:
                loop.run_until_complete(client.close())
            loop.close()
            show.stop()
