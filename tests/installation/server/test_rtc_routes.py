"""WebRTC signalling on ``/rtc`` against a real running show: an aiortc client peer on loopback receives and
decodes the show's pictures; the replies for a full show, WebRTC off and bad offers; closing peers.

Skips cleanly without aiortc (the ``[xr]`` extra). The offer parser is tested with no server at all.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from installation.server.rtc_routes import BadOffer, parse_offer
from tests.installation.server.stream_show import HEIGHT, WIDTH, start_streaming_show, wait_for

MATCH = 6.0  # a decoded VP8 picture against its frame, mean abs difference at a quarter size

OFFER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


def test_parse_offer_reads_sdp_and_output():
    """A well-formed offer gives its SDP and the output named (empty when none is named)."""
    assert parse_offer(json.dumps({"type": "offer", "sdp": OFFER, "output": "small"})).output == "small"
    assert parse_offer(json.dumps({"type": "offer", "sdp": OFFER})).output == ""


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps({"type": "answer", "sdp": OFFER}),
        json.dumps({"type": "offer", "sdp": 5}),
        json.dumps({"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP 0\r\n"}),
        json.dumps({"type": "offer", "sdp": OFFER, "output": 3}),
        json.dumps({"type": "offer", "sdp": OFFER + "a" * 70_000}),
    ],
)
def test_parse_offer_refuses_what_is_not_a_video_offer(message):
    """Non-JSON, other types, a missing/odd SDP, an offer without video, a bad output name, a huge SDP: BadOffer."""
    with pytest.raises(BadOffer):
        parse_offer(message)


@pytest.fixture(scope="module")
def aiortc():
    return pytest.importorskip("aiortc", reason="aiortc is not installed (pip install '.[xr]')")


@pytest.fixture(scope="module")
def running(aiortc, tiny_model, tmp_path_factory):
    from tests.installation.server.rtc_client import loopback_ice

    with loopback_ice():
        show = start_streaming_show(
            tiny_model, tmp_path_factory.mktemp("rtc"), webrtc={"max_viewers": 2, "connect_timeout_s": 20.0}
        )
        yield show
        show.stop()


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def test_an_aiortc_peer_receives_the_shows_pictures(running):
    """A client peer's decoded frames are the show's pictures at the output's size, and they change over time."""
    from tests.installation.server.rtc_client import RtcClient

    async def go():
        client = RtcClient()
        try:
            reply = await client.connect(running.port)
            assert reply["type"] == "answer", reply
            assert "a=candidate" in reply["sdp"]  # non-trickle: the server's candidates are in its answer
            pictures = [await client.picture() for _ in range(3)]
            first = pictures[-1]
            assert wait_for(lambda: running.frames > 0)
            later = None
            for _ in range(120):
                later = await client.picture()
                if float(abs(later.astype(int) - first.astype(int)).mean()) > 2.0:
                    break
            return first, later
        finally:
            await client.close()

    first, later = _run(go())
    assert first.shape == (HEIGHT, WIDTH, 3)
    assert running.closest_rendered(first) < MATCH
    assert running.closest_rendered(later) < MATCH
    assert float(abs(later.astype(int) - first.astype(int)).mean()) > 2.0  # the picture moves
    assert wait_for(lambda: not any(v.kind == "webrtc" for v in running.streams.viewers()), 30)


def test_a_named_output_arrives_at_its_own_size(running):
    """Offering for the output "small" gives its 80x46 pictures."""
    from tests.installation.server.rtc_client import RtcClient

    async def go():
        client = RtcClient()
        try:
            reply = await client.connect(running.port, output="small")
            assert reply["type"] == "answer", reply
            return await client.picture()
        finally:
            await client.close()

    assert _run(go()).shape == (46, 80, 3)


def test_a_full_show_replies_full_and_an_operator_close_ends_the_peer(running):
    """Past webrtc.max_viewers the reply is "full" with a readable message; the operator closing a viewer closes
    its peer, which frees the place."""
    from tests.installation.server.rtc_client import RtcClient

    async def go():
        clients = [RtcClient() for _ in range(3)]
        try:
            replies = [await c.connect(running.port) for c in clients]
            assert [r["type"] for r in replies] == ["answer", "answer", "error"], replies
            assert replies[2]["reason"] == "full" and "Try again" in replies[2]["message"]
            await clients[0].picture()
            viewer = next(v for v in running.streams.viewers() if v.kind == "webrtc")
            assert running.streams.close_viewer(viewer.id)
            for _ in range(300):
                if clients[0].pc.connectionState == "closed" or running.server.streams.rtc.peers == 1:
                    break
                await asyncio.sleep(0.05)
            assert running.server.streams.rtc.peers == 1
            again = RtcClient()
            clients.append(again)
            assert (await again.connect(running.port))["type"] == "answer"
        finally:
            for c in clients:
                await c.close()

    _run(go())
    assert wait_for(lambda: running.server.streams.rtc.peers == 0, 30)


def test_bad_offers_and_unknown_outputs_get_a_bad_offer_reply(running):
    """Garbage and an unknown output name are answered with reason "bad offer"; the socket stays usable."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{running.port}/rtc") as ws:
        ws.send("hello")
        first = json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"type": "offer", "sdp": OFFER, "output": "nope"}))
        second = json.loads(ws.recv(timeout=10))
    assert first["type"] == second["type"] == "error"
    assert first["reason"] == second["reason"] == "bad offer"
    assert "nope" in second["message"]


def test_webrtc_off_replies_disabled(aiortc, tiny_model, tmp_path):
    """With streams.webrtc.enabled false the /rtc reply is "disabled" with a message a visitor can read."""
    from websockets.sync.client import connect

    show = start_streaming_show(tiny_model, tmp_path, webrtc={"enabled": False})
    try:
        with connect(f"ws://127.0.0.1:{show.port}/rtc") as ws:
            ws.send(json.dumps({"type": "offer", "sdp": OFFER}))
            reply = json.loads(ws.recv(timeout=10))
    finally:
        show.stop()
    assert reply == {"type": "error", "reason": "disabled", "message": reply["message"]}
    assert "not available" in reply["message"]


def _first_codec(sdp: str) -> str:
    """The codec name of the first payload type on the m=video line."""
    lines = sdp.splitlines()
    payload = next(line for line in lines if line.startswith("m=video")).split()[3]
    return next(line for line in lines if line.startswith(f"a=rtpmap:{payload} ")).split()[1].split("/")[0]


@pytest.mark.parametrize("codec, expected", [("vp8", "VP8"), ("h264", "H264")])
def test_the_answer_prefers_the_configured_codec(aiortc, codec, expected):
    """The answer's first video codec is VP8 by default and H.264 when streams.webrtc.codec is h264."""
    from engine.sinks.fanout import FanoutSink, OutputSpec
    from installation.server.rtc_routes import RtcService
    from installation.server.rtc_settings import WebRtcSettings
    from tests.installation.server.rtc_client import RtcClient, loopback_ice

    sink = FanoutSink([OutputSpec("main", 64, 48)])
    sink.open()
    service = RtcService(sink, WebRtcSettings(codec=codec))

    async def go():
        client = RtcClient()
        try:
            reply = await service.answer(json.dumps({"type": "offer", "sdp": await client.offer()}), "test")
            return reply, len(sink.viewers())
        finally:
            await client.close()
            await service.aclose()

    with loopback_ice():
        reply, viewers = _run(go())
    sink.close()
    assert reply["type"] == "answer", reply
    assert _first_codec(reply["sdp"]) == expected
    assert viewers == 1 and sink.viewers() == [] and service.peers == 0  # aclose closed it


def test_a_peer_that_never_connects_is_closed_after_the_connect_timeout(aiortc):
    """An answered offer whose client never applies the answer is closed after connect_timeout_s: its viewer
    leaves the sink and its peer connection is closed (nothing left behind)."""
    from engine.sinks.fanout import FanoutSink, OutputSpec
    from installation.server.rtc_routes import RtcService
    from installation.server.rtc_settings import WebRtcSettings
    from tests.installation.server.rtc_client import RtcClient, loopback_ice

    sink = FanoutSink([OutputSpec("main", 64, 48)])
    sink.open()
    service = RtcService(sink, WebRtcSettings(connect_timeout_s=0.3))

    async def go():
        client = RtcClient()
        try:
            reply = await service.answer(json.dumps({"type": "offer", "sdp": await client.offer()}), "test")
            assert reply["type"] == "answer"
            assert len(sink.viewers()) == 1
            for _ in range(200):  # a deadline of 10 s, polled
                if service.peers == 0 and not sink.viewers():
                    break
                await asyncio.sleep(0.05)
            return service.peers, len(sink.viewers())
        finally:
            await client.close()
            await service.aclose()

    with loopback_ice():
        peers, viewers = _run(go())
    sink.close()
    assert (peers, viewers) == (0, 0)
