"""The live picture on the visitor port: ``GET /stream.mjpg``, the JPEG websocket ``/stream/ws`` and ``/xr``.

``StreamService`` is the server's adapter to the engine's ``FanoutSink``: it declares the routes
(``routes()``, added to the ``Router``), answers the checks a request gets before it is served
(``precheck``: which output, is the feature on, is there room), and serves the connections the
server hands it (``handle``). Every viewer is registered with the sink (``add_viewer``), so it is
counted against ``streams.max_viewers``, listed on the operator panel and closable from there.

- MJPEG is an endless HTTP response, which websockets' handshake cannot send; the server hands the
  connection's transport over to ``serve_mjpeg`` (see ``PromptServer``'s ``_Tracked.handshake``),
  which writes ``multipart/x-mixed-replace`` parts straight to it. A client that does not read fills
  its socket buffer; from then on its frames are skipped (counted as its drops) until it drains,
  and after ``send_timeout_s`` without draining it is closed. Nothing waits on it.
- The JPEG websocket sends a JSON hello (``{"type": "hello", "output", "width", "height", "max_fps",
  "format": "jpeg"}``), then one binary message per frame; a send that cannot finish within
  ``send_timeout_s`` closes it (1008); a full show closes it with 1013 and a reason.
- Both use the output's one shared JPEG per frame (``add_viewer(..., jpeg=True)``): a viewer costs a
  socket write, not an encode.
- ``/xr`` and ``/xr/<file>`` are the WebXR viewer's files in ``web/xr/``, served only when its
  ``index.html`` exists and ``streams.xr`` is on; ``/xr/offer.json`` tells that page what it may connect
  to (``xr_offer``: WebRTC signalling when it is on and aiortc is installed, the JPEG websocket, which output),
  so it never knocks on a route that is not there. A viewer that says ``?kind=xr`` is listed as an XR
  viewer on the operator panel (docs/xr.md).

Other stream kinds add a websocket route with ``add_websocket``: WebRTC signalling (``/rtc``,
``rtc_routes.RtcService``) is one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from engine.errors import SinkError
from engine.sinks.fanout import FanoutSink, StreamOutput, ViewerLimit
from installation.server import protocol
from installation.server.routes import PUBLIC, Route
from installation.server.rtc_routes import KIND as RTC_KIND
from installation.server.rtc_routes import MAX_SDP, RTC_PATH, RTC_SESSION, RtcService
from installation.server.stream_settings import StreamsSettings
from installation.server.visitor_page import (
    CONTENT_TYPES,
    SECURITY_HEADERS,
    WEB_ROOT,
    HttpReply,
    http_reply,
    json_bytes,
    text_reply,
)

log = logging.getLogger(__name__)

MJPEG_PATH = "/stream.mjpg"
JPEG_WS_PATH = "/stream/ws"
XR_PATH = "/xr"
XR_OFFER_PATH = "/xr/offer.json"
XR_VENDOR_CACHE = "public, max-age=604800, immutable"  # web/xr/vendor/: versioned file names
VIEWER_KINDS = ("xr",)  # what a client may call itself with ?kind= (else it is listed by its transport)
XR_ROOT = WEB_ROOT / "xr"
HTTP_STREAM_SESSION = "http-stream"  # an endless HTTP response (MJPEG): the server hands over the transport
JPEG_WS_SESSION = "stream-ws"
BOUNDARY = "laterna-frame"
BUFFERED_FRAMES = 2  # a client's socket may hold this many frames' bytes before its frames are skipped
REASON_FULL = "This show's streams are full. Try again later."
REASON_OFF = "This stream is not served here."

# The WebXR page: WebGL textures from blob: images of the JPEG websocket, WebRTC media.
XR_SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "microphone=(self), camera=(), geolocation=(), xr-spatial-tracking=(self)"),
)

WebsocketHandler = Callable[[ServerConnection], Awaitable[None]]


def client_name(user_agent: str | None) -> str:
    """What the operator sees of a client: the first product of its User-Agent ("VLC/3.0.20"), no address."""
    if not user_agent:
        return "unknown client"
    token = user_agent.split()[0][:40]
    if token.startswith("Mozilla/") and "Chrome/" in user_agent:
        return "Chrome " + user_agent.split("Chrome/")[1].split()[0].split(".")[0]
    if token.startswith("Mozilla/") and "Firefox/" in user_agent:
        return "Firefox " + user_agent.split("Firefox/")[1].split()[0].split(".")[0]
    if token.startswith("Mozilla/") and "Safari/" in user_agent:
        return "Safari"
    return token


def viewer_kind(target: str, default: str) -> str:
    """``?kind=`` of a request target when it is a kind a client may claim (``VIEWER_KINDS``), else ``default``."""
    values = parse_qs(urlsplit(target).query).get("kind", [])
    return values[0] if values and values[0] in VIEWER_KINDS else default


def output_name(target: str) -> str:
    """``?output=NAME`` of a request target ("" when not given)."""
    values = parse_qs(urlsplit(target).query).get("output", [])
    return values[0] if values else ""


class StreamService:
    """The stream routes of one show (module docstring)."""

    def __init__(
        self,
        sink: FanoutSink,
        settings: StreamsSettings,
        *,
        log_addresses: bool = False,
        xr_root: Path = XR_ROOT,
        title: str = "Laterna",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.settings = settings
        self.log_addresses = log_addresses
        self.clock = clock
        self.title = title
        self._websockets: dict[str, WebsocketHandler] = {}
        self._extra: list[Route] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._xr_files = self._load_xr(Path(xr_root)) if settings.xr else {}
        if settings.jpeg_ws:
            self.add_websocket(
                JPEG_WS_PATH, "the live picture as JPEG websocket messages", JPEG_WS_SESSION, self.serve_ws
            )
        self.rtc = RtcService(sink, settings.webrtc)
        self.add_websocket(RTC_PATH, "WebRTC signalling (offer/answer)", RTC_SESSION, self.serve_rtc)

    # -- routes ----------------------------------------------------------------------------------------
    @staticmethod
    def _load_xr(root: Path) -> dict[str, tuple[str, bytes]]:
        """The WebXR page's files (read once, so no request path reaches the file system); {} without the page."""
        if not (root / "index.html").is_file():
            return {}
        files: dict[str, tuple[str, bytes]] = {}
        for path in sorted(root.rglob("*")):
            kind = CONTENT_TYPES.get(path.suffix.lower())
            if kind is None or not path.is_file() or any(p.startswith(".") for p in path.relative_to(root).parts):
                continue
            rel = path.relative_to(root).as_posix()
            files[f"{XR_PATH}/{rel}"] = (kind, path.read_bytes())
        files[XR_PATH] = files[f"{XR_PATH}/index.html"]
        return files

    @property
    def max_message_bytes(self) -> int:
        """The largest websocket message a stream client sends: a WebRTC offer's SDP."""
        return MAX_SDP

    @property
    def serves_xr(self) -> bool:
        return bool(self._xr_files)

    def add_websocket(self, path: str, summary: str, session: str, handler: WebsocketHandler) -> None:
        """Serve a websocket at ``path`` (checked like the stream routes first); ``handler(ws)`` serves it."""
        self._websockets[session] = handler
        self._extra.append(Route(path, PUBLIC, summary, self.precheck_output, session=session))

    def routes(self) -> list[Route]:
        """The routes to add to the server's ``Router``."""
        table = list(self._extra)
        if self.settings.mjpeg:
            table.append(
                Route(MJPEG_PATH, PUBLIC, "the live picture as MJPEG (multipart)", self.precheck, HTTP_STREAM_SESSION)
            )
        for path in self._xr_files:
            table.append(Route(path, PUBLIC, "the WebXR viewer", self._xr_reply))
        if self._xr_files:
            table.append(Route(XR_OFFER_PATH, PUBLIC, "what the WebXR viewer may connect to (JSON)", self._offer_reply))
        return table

    def xr_offer(self) -> dict[str, Any]:
        """What ``/xr`` may connect to: the WebRTC signalling and JPEG websocket paths (None: not served), the
        output it shows (``streams.xr_output``, else the first) and that output's size, and the show's title."""
        name = self.settings.xr_output or self.sink.default.name
        output = self.sink.output(name)
        spec, latest = output.spec, output.latest()
        width, height = latest.size if latest is not None else (spec.width, spec.height)
        return {
            "title": self.title,
            "rtc": RTC_PATH if self.rtc.available() else None,  # on, and aiortc installed
            "jpeg": JPEG_WS_PATH if self.settings.jpeg_ws else None,
            "output": output.name,
            "width": width or None,
            "height": height or None,
        }

    def _offer_reply(self, target: str, host: str | None) -> HttpReply:
        try:
            body = json_bytes(self.xr_offer())
        except Exception:  # the sink is the engine's: say so, keep serving
            log.exception("the WebXR viewer's offer could not be read")
            return text_reply(500, "The live picture's settings are not available right now.")
        return http_reply(200, "application/json", body, cache="no-store")

    @property
    def sessions(self) -> tuple[str, ...]:
        """The connection kinds this service serves (``handle``)."""
        return (HTTP_STREAM_SESSION, *self._websockets)

    def _xr_reply(self, target: str, host: str | None) -> HttpReply:
        path = urlsplit(target).path
        kind, body = self._xr_files[path]
        # Vendored files carry their version in their name, so a headset keeps them (three.js: 749 KB).
        cache = XR_VENDOR_CACHE if path.startswith(f"{XR_PATH}/vendor/") else "no-cache"
        return http_reply(200, kind, body, cache=cache, security=XR_SECURITY_HEADERS)

    def precheck_output(self, target: str, host: str | None = None) -> HttpReply | None:
        """Before a websocket stream: 404 for an unknown output; None: go on. (A full show closes the websocket
        with 1013 and a reason, which a browser can read; it cannot read a refused handshake's status.)"""
        try:
            self.sink.output(output_name(target))
        except SinkError:
            return text_reply(404, f"No such stream output. There are: {', '.join(self.sink.outputs)}.")
        return None

    def precheck(self, target: str, host: str | None = None) -> HttpReply | None:
        """Before an HTTP stream: 404 for an unknown output, 503 when the show's viewers are full; None: go on."""
        refused = self.precheck_output(target, host)
        if refused is not None:
            return refused
        if self.sink.viewer_count >= self.sink.max_viewers > 0:
            log.info("a stream viewer was turned away: %d watching", self.sink.viewer_count)
            return text_reply(503, REASON_FULL, ("Retry-After", "30"))
        return None

    # -- connections -------------------------------------------------------------------------------------
    def peer(self, connection: ServerConnection) -> str:
        request = connection.request
        name = client_name(request.headers.get("User-Agent") if request is not None else None)
        if self.log_addresses and connection.remote_address:
            return f"{name} at {connection.remote_address[0]}"
        return name

    async def handle(self, session: str, connection: ServerConnection) -> None:
        """Serve a connection the server routed to ``session`` (one of ``sessions``)."""
        if session == HTTP_STREAM_SESSION:
            await self.serve_mjpeg(connection)
        else:
            await self._websockets[session](connection)

    async def serve_rtc(self, ws: ServerConnection) -> None:
        """WebRTC signalling: each offer on this websocket gets an answer (a new peer) or an error."""
        assert ws.request is not None
        await self.rtc.serve(ws, self.peer(ws), viewer_kind(ws.request.path, RTC_KIND))

    async def aclose(self) -> None:
        """Close every stream viewer and wait for the WebRTC peers to close (the server is stopping)."""
        self.close_all()
        await self.rtc.aclose()

    def close_all(self, reason: str = "the show is stopping") -> None:
        """Close every stream viewer (the server is stopping)."""
        for info in self.sink.viewers():
            self.sink.close_viewer(info.id, reason)

    async def serve_mjpeg(self, connection: ServerConnection) -> None:
        """Write MJPEG parts to the connection's transport until the client goes, is closed, or stops reading."""
        assert connection.request is not None
        transport = connection.transport
        loop = asyncio.get_running_loop()
        output = self.sink.output(output_name(connection.request.path))
        try:
            handle = output.add_viewer(
                "mjpeg",
                self.peer(connection),
                on_close=lambda reason: _call_soon(loop, transport.close),
                jpeg=True,
            )
        except ViewerLimit as full:
            reply = text_reply(503, str(full), ("Retry-After", "30"))
            transport.write(_raw_response(reply.status, "Service Unavailable", reply.headers, reply.body))
            transport.close()
            return
        lost = connection.connection_lost_waiter
        head = (
            ("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Connection", "close"),
            ("Server", "Laterna"),
        ) + SECURITY_HEADERS
        transport.write(_raw_response(200, "OK", head, b""))
        seq = 0
        blocked_since: float | None = None
        try:
            while not handle.closed and not lost.done() and not transport.is_closing():
                got = await output.next_jpeg(seq, timeout=0.5)
                if got is None:
                    blocked_since = self._check_stall(handle, transport, blocked_since)
                    continue
                frame, jpeg = got
                seq = frame.seq
                if transport.get_write_buffer_size() > BUFFERED_FRAMES * len(jpeg):
                    handle.skipped()
                    blocked_since = self._check_stall(handle, transport, blocked_since)
                    continue
                blocked_since = None
                part = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                    f"X-Frame-Seq: {frame.seq}\r\n\r\n"
                ).encode()
                transport.write(part + jpeg + b"\r\n")
                handle.sent(frame.seq, len(part) + len(jpeg) + 2)
        finally:
            handle.close("left" if not handle.closed else handle.reason)
            transport.close()

    def _check_stall(self, handle: Any, transport: asyncio.Transport, blocked_since: float | None) -> float | None:
        """A client whose socket stays full for ``send_timeout_s`` is closed; returns when it began."""
        if transport.get_write_buffer_size() == 0:
            return None
        now = self.clock()
        if blocked_since is None:
            return now
        if now - blocked_since >= self.settings.send_timeout_s:
            log.info("stream viewer %s took nothing for %.0f s; closing", handle.id, self.settings.send_timeout_s)
            handle.close("too slow to read")
        return blocked_since

    async def serve_ws(self, ws: ServerConnection) -> None:
        """The JPEG websocket: a JSON hello, then one binary JPEG message per frame."""
        assert ws.request is not None
        loop = asyncio.get_running_loop()
        output = self.sink.output(output_name(ws.request.path))

        def on_close(reason: str) -> None:
            _call_soon(loop, lambda: self._close_soon(ws, reason))

        try:
            handle = output.add_viewer(
                viewer_kind(ws.request.path, "jpeg-ws"), self.peer(ws), on_close=on_close, jpeg=True
            )
        except ViewerLimit as full:
            await ws.close(protocol.CLOSE_TRY_AGAIN_LATER, str(full)[:120])
            return
        try:
            await ws.send(json_bytes(self.hello(output)).decode())
            seq = 0
            while not handle.closed:
                got = await output.next_jpeg(seq, timeout=0.5)
                if got is None:
                    if ws.state.name in ("CLOSING", "CLOSED"):
                        break
                    continue
                frame, jpeg = got
                seq = frame.seq
                try:
                    async with asyncio.timeout(self.settings.send_timeout_s):
                        await ws.send(jpeg)
                except TimeoutError:
                    log.info(
                        "stream viewer %s could not take a frame for %.0f s", handle.id, self.settings.send_timeout_s
                    )
                    handle.close("too slow to read")
                    ws.transport.abort()
                    break
                handle.sent(frame.seq, len(jpeg))
        except ConnectionClosed:
            pass
        finally:
            handle.close("left")

    def _close_soon(self, ws: ServerConnection, reason: str) -> None:
        """(the server's loop) Start closing ``ws``: 1000 when it left, else 1008 with the reason."""
        code = protocol.CLOSE_NORMAL if reason == "left" else protocol.CLOSE_POLICY_VIOLATION
        task = asyncio.ensure_future(ws.close(code, reason[:120]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def hello(output: StreamOutput) -> dict[str, Any]:
        spec, latest = output.spec, output.latest()
        width, height = latest.size if latest is not None else (spec.width, spec.height)
        return {
            "type": "hello",
            "output": output.name,
            "width": width,
            "height": height,
            "max_fps": spec.max_fps,
            "format": "jpeg",
        }


def _raw_response(status: int, phrase: str, headers: tuple[tuple[str, str], ...], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {phrase}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on ``loop`` from any thread; nothing when that loop has closed (the server stopped)."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass
