"""The WebXR viewer's routes without a browser: the page and its vendored three.js, what /xr/offer.json
offers, and how a viewer says it is an XR viewer."""

import json

import pytest

from engine.errors import ConfigError
from engine.sinks.fanout import FanoutSink
from installation.server.stream_routes import JPEG_WS_PATH, RTC_PATH, StreamService, viewer_kind
from installation.server.stream_settings import StreamOutputSettings, StreamsSettings

OUTPUTS = (
    StreamOutputSettings(name="main", width=640, height=360),
    StreamOutputSettings(name="headset", width=1280, height=720),
)


def service(**settings) -> StreamService:
    s = StreamsSettings(enabled=True, outputs=OUTPUTS, **settings)
    return StreamService(FanoutSink(s.specs((640, 360)), s.max_viewers), s, title="Harbour <Lights>")


def get(svc: StreamService, target: str):
    routes = {r.path: r for r in svc.routes()}
    return routes[target.split("?")[0]].answer(target, "127.0.0.1")


def header(reply, name: str) -> str:
    return dict(reply.headers)[name]


def test_the_page_and_its_modules_are_served_with_their_types_and_webxr_allowed():
    """/xr is the page (WebXR allowed by Permissions-Policy, nothing from elsewhere by CSP); its modules and the
        vendored three.js are text/javascript (browsers refuse ES modules served as anything else); the vendored file,
    versioned by name, may be cached for good, the page may not."""
    svc = service()
    page = get(svc, "/xr")
    assert page.status == 200 and header(page, "Content-Type").startswith("text/html")
    assert b'src="/xr/xr.js"' in page.body
    assert "xr-spatial-tracking=(self)" in header(page, "Permissions-Policy")
    assert "script-src 'self'" in header(page, "Content-Security-Policy")
    for module in ("/xr/xr.js", "/xr/picture.js", "/xr/vendor/three/three-r187.module.min.js"):
        reply = get(svc, module)
        assert reply.status == 200 and header(reply, "Content-Type").startswith("text/javascript"), module
    three = get(svc, "/xr/vendor/three/three-r187.module.min.js")
    assert b"Copyright 2010-2026 Three.js Authors" in three.body
    assert "immutable" in header(three, "Cache-Control") and header(page, "Cache-Control") == "no-cache"


def test_the_offer_names_what_the_show_serves():
    """/xr/offer.json: the JPEG websocket, no WebRTC while it is off, the first output and its size, and the
    show's title (as data: the page sets it as text)."""
    offer = json.loads(get(service(webrtc={"enabled": False}), "/xr/offer.json").body)
    assert offer == {
        "title": "Harbour <Lights>",
        "rtc": None,
        "jpeg": JPEG_WS_PATH,
        "output": "main",
        "width": 640,
        "height": 360,
    }


def test_the_offer_names_webrtc_when_it_is_on_and_aiortc_is_installed():
    """With WebRTC on (the default) and aiortc installed, the page is offered /rtc."""
    pytest.importorskip("aiortc", reason="aiortc is not installed (the [xr] extra)")
    assert json.loads(get(service(), "/xr/offer.json").body)["rtc"] == RTC_PATH


def test_the_offer_follows_xr_output_and_jpeg_ws():
    """streams.xr_output picks the output /xr shows; with jpeg_ws off the page is offered no JPEG websocket."""
    offer = json.loads(get(service(xr_output="headset", jpeg_ws=False), "/xr/offer.json").body)
    assert (offer["output"], offer["width"], offer["height"], offer["jpeg"]) == ("headset", 1280, 720, None)


def test_xr_output_must_name_an_output():
    """A streams.xr_output that names no output is a config error that lists the outputs."""
    with pytest.raises(ConfigError, match="main"):
        StreamsSettings(enabled=True, outputs=OUTPUTS, xr_output="projector")


def test_no_page_no_offer():
    """With streams.xr off neither /xr nor its offer is served."""
    paths = {r.path for r in service(xr=False).routes()}
    assert not any(p.startswith("/xr") for p in paths)


def test_a_viewer_may_call_itself_xr_and_nothing_else():
    """?kind=xr lists a viewer as an XR viewer; any other claimed kind is ignored (the transport's kind stays)."""
    assert viewer_kind("/stream/ws?kind=xr", "jpeg-ws") == "xr"
    assert viewer_kind("/stream/ws?output=headset&kind=xr", "jpeg-ws") == "xr"
    for target in ("/stream/ws", "/stream/ws?kind=operator", "/stream/ws?kind=", "/stream/ws?kind=XR"):
        assert viewer_kind(target, "jpeg-ws") == "jpeg-ws"
