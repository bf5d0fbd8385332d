"""The live picture on the visitor port, from a real running show: MJPEG read with http.client, the JPEG
websocket read with a websockets client, the viewer cap, slow and many viewers, the operator's close."""

import asyncio
import json
import os
import socket
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from installation.server.stream_routes import client_name, output_name
from tests.installation.server.stream_show import (
    HEIGHT,
    WIDTH,
    MjpegReader,
    decode,
    difference,
    start_streaming_show,
    wait_for,
)

pytestmark = pytest.mark.slow

MATCH = 3.0  # a decoded JPEG (q90) against the frame it encodes, at a quarter size (~0.5); the flipped picture: ~29


@pytest.fixture(scope="module")
def running(tiny_model, tmp_path_factory):
    show = start_streaming_show(tiny_model, tmp_path_factory.mktemp("streams"), send_timeout_s=2.0)
    yield show
    show.stop()


@pytest.fixture(autouse=True)
def nobody_left_watching(running):
    """Each test starts and ends with no viewer registered."""
    assert wait_for(lambda: running.streams.viewer_count == 0, 10), running.streams.viewers()
    yield
    assert wait_for(lambda: running.streams.viewer_count == 0, 15), running.streams.viewers()


def test_mjpeg_frames_are_what_the_show_rendered_and_change(running):
    """GET /stream.mjpg: multipart MJPEG whose decoded frames have the output's size, match a frame the loop
    showed, come in order, and change over time."""
    reader = MjpegReader(running.port)
    try:
        assert reader.status == 200
        assert reader.content_type == "multipart/x-mixed-replace; boundary=laterna-frame"
        frames = [reader.next() for _ in range(30)]
    finally:
        reader.close()
    seqs = [seq for seq, _ in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for _, picture in frames:
        assert picture.shape == (HEIGHT, WIDTH, 3)
    first, last = frames[0][1], frames[-1][1]
    assert running.closest_rendered(last) < MATCH
    assert running.closest_rendered(np.ascontiguousarray(last[::-1, ::-1])) > 3 * MATCH  # the match means something
    assert difference(first, last) > 1.0  # the picture moves (a slow sky and drifting hills)


def test_ffmpegs_multipart_jpeg_demuxer_reads_the_stream(running):
    """FFmpeg's mpjpeg demuxer (what OBS's media source and other players use, here through PyAV) reads
    /stream.mjpg: frames at the output's size that match what the show rendered."""
    av = pytest.importorskip("av", reason="PyAV is not installed")
    pictures = []
    with av.open(f"http://127.0.0.1:{running.port}/stream.mjpg", format="mpjpeg", timeout=10) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        for frame in container.decode(video=0):
            pictures.append(frame.to_ndarray(format="rgb24"))
            if len(pictures) == 5:
                break
    assert all(p.shape == (HEIGHT, WIDTH, 3) for p in pictures)
    assert running.closest_rendered(pictures[-1]) < MATCH


def test_a_named_output_has_its_own_size_and_an_unknown_one_is_404(running):
    """?output=small serves that output's size; an output that does not exist answers 404 in words."""
    reader = MjpegReader(running.port, "/stream.mjpg?output=small")
    try:
        _, picture = reader.next()
    finally:
        reader.close()
    assert picture.shape == (46, 80, 3)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{running.port}/stream.mjpg?output=nope", timeout=10)
    assert refused.value.code == 404
    assert b"main, small, big" in refused.value.read()


def test_jpeg_websocket_says_hello_then_sends_the_shows_frames(running):
    """/stream/ws: a JSON hello with the output's size, then binary JPEGs that match what the show rendered."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{running.port}/stream/ws") as ws:
        hello = json.loads(ws.recv(timeout=10))
        pictures = [decode(ws.recv(timeout=10)) for _ in range(6)]
    assert hello == {
        "type": "hello",
        "output": "main",
        "width": WIDTH,
        "height": HEIGHT,
        "max_fps": 0.0,
        "format": "jpeg",
    }
    assert all(p.shape == (HEIGHT, WIDTH, 3) for p in pictures)
    assert running.closest_rendered(pictures[-1]) < MATCH


def test_viewers_share_one_encode_per_frame(running):
    """Three MJPEG viewers and a JPEG websocket on one output: the output encodes each frame once, not per viewer."""
    from websockets.sync.client import connect

    main = running.streams.output("main")
    readers = [MjpegReader(running.port) for _ in range(3)]
    try:
        with connect(f"ws://127.0.0.1:{running.port}/stream/ws") as ws:
            ws.recv(timeout=10)
            assert wait_for(lambda: running.streams.viewer_count == 4)
            before = main.stats()
            for _ in range(10):
                for reader in readers:
                    reader.next()
                ws.recv(timeout=10)
            after = main.stats()
    finally:
        for reader in readers:
            reader.close()
    frames = after["frames"] - before["frames"]
    assert frames >= 5  # (a reader may have had a frame or two waiting in its socket already)
    assert after["encodes"] - before["encodes"] <= frames + 1  # one encode per published frame (one in flight)


def test_the_viewer_cap_answers_503_and_closes_a_websocket_with_1013(tiny_model, tmp_path):
    """With max_viewers reached, /stream.mjpg answers 503 with a sentence and /stream/ws closes with 1013 and
    a reason (what a browser can read); once the viewer leaves, the next one gets in."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    show = start_streaming_show(tiny_model, tmp_path, max_viewers=1)
    try:
        first = MjpegReader(show.port)
        first.next()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{show.port}/stream.mjpg", timeout=10)
        assert refused.value.code == 503
        assert b"streams are full" in refused.value.read()
        with connect(f"ws://127.0.0.1:{show.port}/stream/ws") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert "streams are full" in closed.value.rcvd.reason
        first.close()
        assert wait_for(lambda: show.streams.viewer_count == 0)
        with connect(f"ws://127.0.0.1:{show.port}/stream/ws") as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
    finally:
        show.stop()


def test_a_viewer_that_never_reads_stalls_neither_the_show_nor_others_and_is_closed(running):
    """A client that asks for the MJPEG stream and never reads: the loop keeps showing frames, another viewer
    keeps getting new ones, its frames are skipped (counted), and after send_timeout_s it is closed."""
    big = running.streams.output("big")  # large frames fill the socket buffers within seconds
    stuck = socket.create_connection(("127.0.0.1", running.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b"GET /stream.mjpg?output=big HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: never-reads\r\n\r\n")
    try:
        assert wait_for(lambda: any(v.peer == "never-reads" for v in big.viewers()))
        start = running.frames
        assert wait_for(lambda: big.stats()["viewer_dropped"] > 0)  # its socket is full: its frames are skipped
        reader = MjpegReader(running.port, "/stream.mjpg?output=big")  # meanwhile, on the same output
        try:
            seqs = [reader.next()[0] for _ in range(10)]
        finally:
            reader.close()
        assert seqs[-1] > seqs[0]
        assert wait_for(lambda: running.frames > start + 20)  # the show went on
        # and the viewer that never reads was closed, send_timeout_s (2 s) after its socket filled
        assert wait_for(lambda: not any(v.peer == "never-reads" for v in big.viewers()), 60)
    finally:
        stuck.close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_twenty_viewers_join_and_leave_without_stalling_or_leaking(running):
    """20 viewers (MJPEG and websocket) join, read and leave, twice: the loop keeps showing frames meanwhile, and
    afterwards no viewer, file descriptor or thread is left over."""
    from websockets.asyncio.client import connect

    def one_round() -> None:
        async def ws_viewer() -> None:
            async with connect(f"ws://127.0.0.1:{running.port}/stream/ws") as ws:
                await ws.recv()
                for _ in range(3):
                    await ws.recv()

        def mjpeg_viewer() -> None:
            reader = MjpegReader(running.port)
            try:
                for _ in range(3):
                    reader.next()
            finally:
                reader.close()

        async def all_ws() -> None:
            await asyncio.gather(*(ws_viewer() for _ in range(10)))

        threads = [threading.Thread(target=mjpeg_viewer) for _ in range(10)]
        threads.append(threading.Thread(target=lambda: asyncio.run(all_ws())))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)

    one_round()  # warm-up: executors and the like are made once
    assert wait_for(lambda: running.streams.viewer_count == 0, 15)
    fds, threads = _fds(), threading.active_count()
    start = running.frames
    one_round()
    assert running.frames > start  # the show went on while they watched
    assert wait_for(lambda: running.streams.viewer_count == 0, 15)
    assert wait_for(lambda: _fds() <= fds, 15), (_fds(), fds)
    assert wait_for(lambda: threading.active_count() <= threads, 15), (threading.active_count(), threads)


def test_the_operator_lists_a_viewer_and_closes_it(running):
    """The panel's state lists a stream viewer (kind, output, client name); close_viewer ends its stream."""
    reader = MjpegReader(running.port)
    try:
        reader.next()
        viewers = running.control.state()["streams"]["viewers"]
        assert [(v["kind"], v["output"], v["peer"]) for v in viewers] == [("mjpeg", "main", "stream-test/1.0")]
        assert running.control.apply({"cmd": "close_viewer", "id": viewers[0]["id"]})["ok"]
        assert not running.control.apply({"cmd": "close_viewer", "id": viewers[0]["id"]})["ok"]
        with pytest.raises((AssertionError, OSError, ValueError)):
            for _ in range(100):  # the frames already on the wire, then the end of the stream
                reader.next()
    finally:
        reader.close()
    assert running.streams.viewer_count == 0


def test_client_names_and_output_query():
    """What the operator sees of a client is its product name, never an address; ?output= is read."""
    assert client_name("VLC/3.0.20 LibVLC/3.0.20") == "VLC/3.0.20"
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.1 Safari/537.36"
    assert client_name(chrome) == "Chrome 120"
    assert client_name(None) == "unknown client"
    assert output_name("/stream.mjpg?output=headset") == "headset"
    assert output_name("/stream.mjpg") == ""


def test_xr_is_served_only_when_the_page_exists(tmp_path):
    """/xr and its files come from the xr folder, with the XR page's CSP, when index.html is there; else no route."""
    from engine.sinks.fanout import FanoutSink, OutputSpec
    from installation.server.stream_routes import XR_PATH, StreamService
    from installation.server.stream_settings import StreamsSettings

    sink = FanoutSink([OutputSpec("main")])
    settings = StreamsSettings(enabled=True)
    assert not StreamService(sink, settings, xr_root=tmp_path).serves_xr
    (tmp_path / "index.html").write_text("<!doctype html><title>xr</title>")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "three.module.js").write_text("export {};")
    (tmp_path / ".hidden.js").write_text("secret")
    service = StreamService(sink, settings, xr_root=tmp_path)
    routes = {r.path: r for r in service.routes()}
    assert {XR_PATH, f"{XR_PATH}/index.html", f"{XR_PATH}/vendor/three.module.js"} <= set(routes)
    assert f"{XR_PATH}/.hidden.js" not in routes
    reply = routes[XR_PATH].answer(XR_PATH, None)
    headers = dict(reply.headers)
    assert reply.status == 200 and b"<title>xr</title>" in reply.body and "blob:" in headers["Content-Security-Policy"]
    assert not StreamService(sink, StreamsSettings(enabled=True, xr=False), xr_root=tmp_path).serves_xr
    off = StreamService(sink, StreamsSettings(enabled=True, mjpeg=False, jpeg_ws=False), xr_root=tmp_path / "none")
    assert [r.path for r in off.routes()] == ["/rtc"]  # WebRTC signalling stays: it says "disabled" when off
