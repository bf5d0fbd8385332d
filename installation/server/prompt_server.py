"""The visitor server: a thin adapter joining ``websockets`` to the pure protocol, the page and the Director.

One port serves the visitor page (``/``, ``/static/...``), ``/status``, ``/qr.svg`` and the
websocket ``/ws``; ``/healthz`` and ``/metrics``; and the operator's side behind a token
(``/operator``, ``/operator/state``, ``/operator/preview.jpg`` and the websocket ``/operator/ws``).
The route table is ``routes.Router``; plain GETs are answered in ``process_request`` from it (see
``visitor_page``, ``operator_page``, ``operator_auth``). Each websocket visitor gets a random id, is
subscribed to the Director, and has every message passed through ``FloodGuard`` and
``parse_message`` (see ``protocol``). A visitor who breaks the protocol gets a reply and, where the
protocol says so, is closed with its close code; nobody else notices. Who is connected, what each
visitor waits for and the places kept for dropped visitors (``resume_grace_s``, the resume tokens)
are ``sessions.Sessions``: this module only does the I/O for it, and runs the timer that withdraws
expired places (``reap``). Browsers may open the websockets only from the show's own pages
(``origins.OriginPolicy``). An operator's websocket is pushed the panel's state every
``state_interval_s`` (JSON text, then the preview as a binary JPEG) and carries commands for
``operator.ShowControl``. ``stop`` closes every connection at once: what does not finish its close
handshake within ``CLOSE_GRACE_S`` (a half-open TCP connection, a client that does not read) is
aborted.

``PromptServer`` runs in an asyncio loop; ``ServerThread`` gives it one of its own in a background
thread, because the frame loop owns the main thread. Prompts are logged without client addresses
unless ``log_addresses=True``; visitor ids are random, never derived from an address. The operator
token is never logged: websockets' own lines go through ``operator_auth.RedactingLogger``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from engine.errors import EngineError
from installation.control.show_control import ShowControl, handle_message
from installation.server import protocol
from installation.server.auth import OperatorAuth, RedactingLogger
from installation.server.operator_page import OperatorPage
from installation.server.origins import OriginPolicy
from installation.server.protocol import (
    ConnectionLimiter,
    FloodGuard,
    Ping,
    ProtocolViolation,
    RateLimiter,
    Resume,
    parse_message,
)
from installation.server.routes import OPERATOR_SESSION, HealthLike, MetricsLike, Router
from installation.server.sessions import Session, Sessions
from installation.server.settings import ServerSettings
from installation.server.stream_routes import HTTP_STREAM_SESSION, StreamService
from installation.server.visitor_page import WEB_ROOT, HttpReply, VisitorPage, json_bytes, text_reply

log = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]

OPEN_TIMEOUT_S = 10.0  # a connection must finish its opening handshake this soon
CLOSE_GRACE_S = 1.0  # on stop, connections get this long to finish their close handshake, then are aborted
REASON_ORIGIN = "This page may only be opened from the show's own address."


class ServerError(EngineError):
    """The visitor server could not start (address in use, no permission) or stopped unexpectedly."""


class DirectorLike(Protocol):
    async def submit(self, visitor_id: str, text: str, newcomer: bool = False) -> dict: ...
    def subscribe(self, visitor_id: str, send: Send) -> None: ...
    def unsubscribe(self, visitor_id: str) -> None: ...
    def status(self) -> dict: ...
    def visitor_state(self) -> dict: ...


# The server's settings are the config's ``server`` section: one model (installation/server/settings.py).
VisitorServerSettings = ServerSettings


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or newer) from PEM files; a ServerError naming them if they do not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ServerError(f"cannot use the TLS certificate {cert} with key {key}: {exc}") from exc
    return context


def lan_address() -> str:
    """This machine's address on the local network (no packet is sent), or 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class _Visitor:
    """One websocket visitor: its session (``sessions.Session``) and its connection."""

    def __init__(self, server: PromptServer, ws: ServerConnection, session: Session) -> None:
        self.server = server
        self.ws = ws
        self.session = session

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def address(self) -> str:
        return self.session.address

    async def push(self, message: dict) -> None:
        """What the Director holds: a message it sends on its own (positions, showing, expiry, status)."""
        await self.send(self.server.sessions.outgoing(self.session, message, pushed=True))

    async def reply(self, message: dict) -> None:
        """An answer to the visitor's own message."""
        await self.send(self.server.sessions.outgoing(self.session, message))

    async def send(self, message: dict) -> None:
        """Send one server message. Never raises for a visitor who has gone or cannot keep up."""
        try:
            text = protocol.encode(message)
        except (TypeError, ValueError):
            log.error("visitor %s: not sending a malformed message %r", self.id, message)
            return
        try:
            async with asyncio.timeout(self.server.settings.send_timeout_s):
                await self.ws.send(text)
        except ConnectionClosed:
            pass
        except TimeoutError:
            log.warning(
                "visitor %s: could not take a message for %.0f s; closing", self.id, self.server.settings.send_timeout_s
            )
            self.server._spawn(self.ws.close(protocol.CLOSE_POLICY_VIOLATION, "Too slow to read replies."))


class PromptServer:
    """Serves the visitor page and the prompt websocket on one port; see the module docstring."""

    def __init__(
        self,
        director: DirectorLike,
        settings: ServerSettings = ServerSettings(),
        status_provider: Callable[[], dict] | None = None,
        *,
        web_root=WEB_ROOT,
        clock: Callable[[], float] = time.monotonic,
        operator_token: str | None = None,
        control: ShowControl | None = None,
        health: HealthLike | None = None,
        metrics: MetricsLike | None = None,
        streams: StreamService | None = None,
    ) -> None:
        # clock: monotonic seconds for rate limits and idle times (injectable for tests)
        # operator_token: the operator routes' secret (LATERNA_OPERATOR_TOKEN); None: they all answer 403
        # control: what the operator panel reads and commands; health: /healthz; metrics: /metrics
        # streams: the live picture's routes (/stream.mjpg, /stream/ws, /xr), when the show streams
        self.director = director
        self.settings = settings
        self.status_provider = status_provider
        self.clock = clock
        self.limits = settings.limits()
        self.connections = ConnectionLimiter(settings.max_connections, settings.max_connections_per_address)
        self.flood = FloodGuard(
            RateLimiter(settings.rate_per_connection, settings.burst_per_connection, clock),
            RateLimiter(settings.rate_per_address, settings.burst_per_address, clock),
            warnings=settings.flood_warnings,
        )
        self.http_rate = RateLimiter(settings.http_rate_per_address, settings.http_burst_per_address, clock)
        title = settings.page_title or "Laterna"
        self.page = VisitorPage(
            title, web_root, self.status, settings.public_url, lambda: self.url, secure=bool(settings.tls_cert)
        )
        self.control = control
        self.auth = OperatorAuth(operator_token)
        self.operator_page = OperatorPage(title, web_root, control)
        self.streams = streams
        self.router = Router(
            self.page,
            self.operator_page,
            self.auth,
            health,
            metrics,
            settings.metrics_public,
            extra=streams.routes() if streams is not None else (),
        )
        self.origins = OriginPolicy(
            settings.origins,
            lambda: self.url if self.port else settings.public_url,
            lambda: self.port,
            secure=bool(settings.tls_cert),
        )
        self.sessions = Sessions(
            settings.resume_grace_s,
            settings.max_kept_places,
            settings.max_kept_places_per_address,
            clock,
            settle_s=settings.settle_s,
        )
        self.visitors: dict[str, _Visitor] = {}
        self.operators: set[ServerConnection] = set()
        self.port: int | None = None
        self._server: Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self._open: set[ServerConnection] = set()  # every TCP connection, handshake done or not

    # -- life ------------------------------------------------------------------------------------------
    def _tls(self) -> ssl.SSLContext | None:
        """The TLS context for https/wss, or None for plain http."""
        s = self.settings
        return tls_context(s.tls_cert, s.tls_key) if s.tls_cert else None

    async def start(self) -> int:
        """Bind and serve; returns the port (the real one when ``port=0``). Raises ``ServerError``."""
        s = self.settings
        tls = self._tls()
        tracked = self._open
        server = self

        class _Tracked(ServerConnection):
            """A connection that is known from its first byte, so ``stop`` can abort half-open ones. Its
            handshake has the open timeout, except an endless HTTP response (MJPEG), which is served in it."""

            async def handshake(
                self,
                process_request: Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]
                | None = None,
                process_response: Callable[
                    [ServerConnection, Request, Response], Awaitable[Response | None] | Response | None
                ]
                | None = None,
                server_header: str | None = "Laterna",
            ) -> None:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await asyncio.wait([self.request_rcvd, self.connection_lost_waiter], return_when="FIRST_COMPLETED")
                request = self.request
                route = server.router.find(request.path) if request is not None else None
                if request is not None and route is not None and route.session == HTTP_STREAM_SESSION:
                    response = server._process_request(self, request)  # rate limit, route, the viewer cap
                    if response is None and server.streams is not None:
                        await server.streams.serve_mjpeg(self)  # the response: as long as the client watches
                        return

                    def answered(connection: ServerConnection, request: Request) -> Response | None:
                        return response  # refused (429, 404, 503): websockets sends it and closes

                    process_request = answered
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await super().handshake(process_request, process_response, server_header)

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                tracked.add(self)

            def connection_lost(self, exc: Exception | None) -> None:
                tracked.discard(self)
                super().connection_lost(exc)

        try:
            self._server = await serve(
                self._handle,
                s.host,
                s.port,
                process_request=self._process_request,
                create_connection=_Tracked,
                compression=None,
                # WebRTC offers (a browser's SDP, 4-10 KB) need more than a prompt; the visitor protocol still
                # refuses a prompt message over max_message_bytes itself (protocol.parse_client_message)
                max_size=max(s.max_message_bytes, self.streams.max_message_bytes if self.streams else 0),
                max_queue=16,
                open_timeout=None,  # _Tracked.handshake applies OPEN_TIMEOUT_S itself
                ssl_handshake_timeout=OPEN_TIMEOUT_S if tls is not None else None,
                close_timeout=3,
                ping_interval=20,
                ping_timeout=20,
                server_header="Laterna",
                ssl=tls,
                logger=RedactingLogger(logging.getLogger(f"{__name__}.wire"), self.auth.redactor(), quiet=True),
            )
        except OSError as exc:
            raise ServerError(f"cannot serve visitors on {s.host}:{s.port}: {exc.strerror or exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("visitor page at %s (websocket %s)", self.url, "/ws")
        if self.auth.enabled:
            log.info("operator panel at %soperator (needs the operator token)", self.url)
        else:
            log.info("operator panel is off: LATERNA_OPERATOR_TOKEN is not set")
        return self.port

    async def stop(self) -> None:
        """Close every visitor (1001 going away) and stop listening. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        if self.streams is not None:
            await self.streams.aclose()
        server.close()  # 1001 to open connections, 503 to those still in their handshake
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await server.wait_closed()
        except TimeoutError:  # half-open connections, clients that do not read: they do not get to wait
            log.info("closing %d connection(s) that did not finish closing at once", len(self._open))
            for connection in list(self._open):
                connection.transport.abort()
            try:
                async with asyncio.timeout(CLOSE_GRACE_S):
                    await server.wait_closed()
            except TimeoutError:
                log.warning("the visitor server's connections did not all end")
        for task in list(self._tasks):
            task.cancel()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        self._let_go(self.sessions.withdraw_all())
        log.info("visitor server stopped")

    @property
    def url(self) -> str:
        """The page's address for phones: ``public_url``, else this machine's address and the port."""
        if self.settings.public_url:
            return self.settings.public_url
        host = self.settings.host
        if host in ("", "0.0.0.0", "::"):
            host = lan_address()
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.settings.tls_cert else 'http'}://{host}:{self.port}/"

    @property
    def connected_visitors(self) -> int:
        return len(self.visitors)

    def status(self) -> dict[str, Any]:
        """What ``/status`` shows: the status provider's (or Director's) dict plus ``connected_visitors``."""
        info = dict(self.status_provider() if self.status_provider else self.director.status())
        info["connected_visitors"] = self.connected_visitors
        return info

    # -- HTTP --------------------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        address = _address(connection)
        if not self.http_rate.allow(address):
            return _response(text_reply(429, "Too many requests. Wait a moment.", ("Retry-After", "5")))
        hosts = request.headers.get_all("Host")
        host = hosts[0] if len(hosts) == 1 else None
        route, reply = self.router.reply(request.method, request.path, request.headers.get_all("Authorization"), host)
        if reply is None and route is not None and route.session not in (None, HTTP_STREAM_SESSION):  # a websocket
            origins = request.headers.get_all("Origin")
            if len(origins) > 1 or not self.origins.allows(origins[0] if origins else None, host):
                log.debug("a websocket from another site was refused (%s)", route.path)  # the origin may be junk
                return _response(text_reply(403, REASON_ORIGIN))
        if reply is not None:
            if route is not None and reply.status in (401, 403) and self.router.needs_token(route):
                log.info("%s refused without the right token (%d)", route.path, reply.status)  # never the target
            return _response(reply)
        if route is not None and self.streams is not None and route.session in self.streams.sessions:
            return None  # stream viewers are counted by the streams' own cap (StreamService.precheck)
        if route is not None and route.session == OPERATOR_SESSION:
            if len(self.operators) >= self.settings.max_operators:
                log.warning("an operator was turned away: %d operator panels are open", len(self.operators))
                return _response(text_reply(503, "Too many operator panels are open.", ("Retry-After", "10")))
            return None
        if not self.connections.would_admit(address):
            log.debug("a visitor was turned away: %d connected", self.connections.total)
            return _response(text_reply(503, protocol.REASON_BUSY, ("Retry-After", "30")))
        return None  # the websocket handshake goes on

    # -- websocket ----------------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        route = self.router.find(ws.request.path) if ws.request is not None else None
        if route is not None and route.session == OPERATOR_SESSION:
            await self._operate(ws)
        elif route is not None and self.streams is not None and route.session in self.streams.sessions:
            await self._stream(route.session, ws)
        else:  # process_request lets only the two websocket routes through to here
            await self._visit(ws)

    async def _visit(self, ws: ServerConnection) -> None:
        address = _address(ws)
        if not self.connections.try_acquire(address):
            await ws.close(protocol.CLOSE_TRY_AGAIN_LATER, protocol.REASON_BUSY)
            return
        visitor = _Visitor(self, ws, self.sessions.open(address))
        self.visitors[visitor.id] = visitor
        where = f" from {address}" if self.settings.log_addresses else ""
        log.debug("visitor %s connected%s (%d now)", visitor.id, where, len(self.visitors))
        try:
            director: Any = self.director
            enter = getattr(director, "enter", None)
            if enter is not None:  # a hub's zones (prompts.zone_directors): the page's ?zone= picks the Director
                director = enter(visitor.id, _query(ws, "zone"))
            self.director.subscribe(visitor.id, visitor.push)
            state = director.visitor_state()
            if state.get("note") is not None:  # closed, warming up or pinned: say so before anything else
                await visitor.push(state)
            await self._converse(visitor)
        except ConnectionClosed:
            pass
        except Exception:  # the connection is the task boundary: log once, the others keep going
            log.exception("visitor %s: connection failed", visitor.id)
            await ws.close(protocol.CLOSE_INTERNAL_ERROR, "Internal error.")
        finally:
            self.visitors.pop(visitor.id, None)
            self.connections.release(address)
            self.flood.forget(visitor.id)
            self._depart(visitor)
            log.debug("visitor %s left (%d now)", visitor.id, len(self.visitors))

    async def _stream(self, session: str, ws: ServerConnection) -> None:
        """A stream viewer's websocket (the JPEG websocket, WebRTC signalling): the connection is the boundary."""
        assert self.streams is not None
        try:
            await self.streams.handle(session, ws)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("a stream viewer's connection failed")
            await ws.close(protocol.CLOSE_INTERNAL_ERROR, "Internal error.")

    # -- coming back after a dropped connection -------------------------------------------------------------
    def _depart(self, visitor: _Visitor) -> None:
        """The connection has ended: ``Sessions`` decides whether the visitor's place is kept."""
        let_go = self.sessions.close(visitor.session, keep=self._server is not None)  # stopping: nobody comes back
        if visitor.id not in let_go:
            vid = visitor.id

            async def overhear(message: dict) -> None:  # what the Director tells them meanwhile
                self.sessions.overhear(vid, message)

            self.director.subscribe(vid, overhear)
            log.debug("visitor %s dropped; their prompt waits %.0f s for them", vid, self.sessions.grace_s)
            self._schedule_reap()
        self._let_go(let_go)

    def _let_go(self, visitor_ids: Iterable[str]) -> None:
        for visitor_id in visitor_ids:
            try:
                self.director.unsubscribe(visitor_id)
            except Exception:
                log.exception("visitor %s: the director failed to let them go", visitor_id)

    def _schedule_reap(self) -> None:
        """Run ``reap`` when the next kept place expires."""
        deadline = self.sessions.next_deadline()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        if deadline is not None and self._server is not None:
            delay = max(0.0, deadline - self.clock()) + 0.01
            self._reaper = asyncio.get_running_loop().call_later(delay, self.reap)

    def reap(self) -> None:
        """Withdraw the kept places whose grace period is over (the timer calls this; so may a test with a
        manual clock)."""
        self._let_go(self.sessions.expire())
        self._schedule_reap()

    async def _resume(self, visitor: _Visitor, token: str) -> None:
        """Give ``visitor`` the place of the departed visitor with ``token``; an unknown, expired or used
        token, or a visitor who already has a prompt waiting, changes nothing (and is not answered)."""
        old_id = visitor.id
        place = self.sessions.resume(visitor.session, token)
        if place is None:
            log.debug("visitor %s: nothing to resume", visitor.id)
            return
        self.director.unsubscribe(old_id)  # the new connection's own id had nothing waiting
        self.visitors.pop(old_id, None)
        self.flood.forget(old_id)
        self.visitors[visitor.id] = visitor
        self.director.subscribe(visitor.id, visitor.push)
        log.debug("visitor %s came back to their place", visitor.id)
        if place.last is not None:
            await visitor.push(place.last)

    async def _converse(self, visitor: _Visitor) -> None:
        idle_limit = self.settings.idle_timeout_s
        while True:
            try:
                async with asyncio.timeout(max(0.05, idle_limit - self.sessions.idle_for(visitor.session))):
                    data = await visitor.ws.recv()
            except TimeoutError:  # cancelling recv() loses nothing (websockets guarantees it)
                if self.sessions.idle_for(visitor.session) >= idle_limit:
                    log.debug("visitor %s: idle for %.0f s, closing", visitor.id, idle_limit)
                    await visitor.ws.close(protocol.CLOSE_NORMAL, protocol.REASON_IDLE)
                    return
                continue
            self.sessions.heard(visitor.session)
            try:
                self.flood.admit(visitor.id, visitor.address)
                message = parse_message(data, self.limits)
            except ProtocolViolation as violation:
                await visitor.reply(violation.reply)
                if violation.close_code is not None:
                    log.debug("visitor %s: closing (%d): %s", visitor.id, violation.close_code, violation)
                    await visitor.ws.close(violation.close_code, violation.close_reason)
                    return
                continue
            if isinstance(message, Ping):
                await visitor.reply(protocol.pong())
                continue
            if isinstance(message, Resume):
                await self._resume(visitor, message.token)
                continue
            await self._submit(visitor, message.text)

    async def _submit(self, visitor: _Visitor, text: str) -> None:
        where = f" from {visitor.address}" if self.settings.log_addresses else ""
        log.debug("visitor %s%s: prompt %r", visitor.id, where, text)
        try:
            reply = await self.director.submit(visitor.id, text, self.sessions.newcomer(visitor.session))
        except Exception:
            log.exception("visitor %s: the director failed on a prompt", visitor.id)
            reply = protocol.error(protocol.REASON_INTERNAL)
        if not isinstance(reply, dict) or reply.get("type") not in ("queued", "rejected"):
            log.error("visitor %s: the director answered %r; expected queued or rejected", visitor.id, reply)
            reply = protocol.error(protocol.REASON_INTERNAL)
        await visitor.reply(reply)

    # -- operators ----------------------------------------------------------------------------------------
    async def _operate(self, ws: ServerConnection) -> None:
        """One operator panel: state (and preview) pushed every ``state_interval_s`` and after each
        command; commands answered with ``{"type": "result", ...}``."""
        control = self.control
        if control is None:  # process_request answers 503 first; this is belt and braces
            await ws.close(protocol.CLOSE_INTERNAL_ERROR, "No operator controls.")
            return
        session = secrets.token_hex(3)
        self.operators.add(ws)
        log.info("operator %s connected (%d panels open)", session, len(self.operators))
        wake = asyncio.Event()
        pusher = asyncio.ensure_future(self._push_state(ws, control, wake))
        try:
            async for data in ws:
                await self._send_operator(ws, handle_message(control, data))
                wake.set()
        except ConnectionClosed:
            pass
        except Exception:  # the connection is the task boundary
            log.exception("operator %s: connection failed", session)
            await ws.close(protocol.CLOSE_INTERNAL_ERROR, "Internal error.")
        finally:
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)
            self.operators.discard(ws)
            log.info("operator %s left (%d panels open)", session, len(self.operators))

    async def _push_state(self, ws: ServerConnection, control: ShowControl, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            try:
                state = control.state()
            except Exception:  # ShowControl guards its providers; this is for anything it missed
                log.exception("the operator state could not be read")
                state = None
            if state is not None and not await self._send_operator(ws, {"type": "state", **state}):
                return
            jpeg = await asyncio.to_thread(control.preview_jpeg)
            if jpeg is not None and not await self._send_operator(ws, jpeg):
                return
            try:
                async with asyncio.timeout(self.settings.state_interval_s):
                    await wake.wait()
            except TimeoutError:
                pass

    async def _send_operator(self, ws: ServerConnection, message: dict | bytes) -> bool:
        """Send a JSON message (text) or a JPEG (binary); False once the panel is gone or too slow."""
        data = message if isinstance(message, bytes) else json_bytes(message).decode()
        try:
            async with asyncio.timeout(self.settings.send_timeout_s):
                await ws.send(data)
            return True
        except ConnectionClosed:
            return False
        except TimeoutError:
            log.warning(
                "an operator panel could not take the state for %.0f s; closing it", self.settings.send_timeout_s
            )
            self._spawn(ws.close(protocol.CLOSE_POLICY_VIOLATION, "Too slow to read the state."))
            return False

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _address(connection: ServerConnection) -> str:
    peer = connection.remote_address
    return str(peer[0]) if peer else "unknown"


def _query(connection: ServerConnection, key: str) -> str | None:
    """One parameter of the websocket's address (``/ws?zone=room-2``), or None."""
    if connection.request is None:
        return None
    values = parse_qs(urlsplit(connection.request.path).query).get(key)
    return values[0] if values else None


def _response(reply: HttpReply) -> Response:
    return Response(reply.status, HTTPStatus(reply.status).phrase, Headers(list(reply.headers)), reply.body)


class ServerThread:
    """Runs a ``PromptServer`` (and optional companions such as ``director.run``) in an asyncio loop
    on a background thread. ``start()`` returns the port once serving; ``stop()`` ends it all."""

    def __init__(
        self,
        server: PromptServer,
        background: Iterable[Callable[[], Awaitable[Any]]] = (),
        name: str = "visitor-server",
    ) -> None:
        self.server = server
        self.background = list(background)
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> int:
        if self._thread is not None:
            raise ServerError("this ServerThread was already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ServerError(f"the visitor server did not start within {timeout:.0f} s")
        if self._error is not None:
            self._thread.join(timeout)
            if isinstance(self._error, ServerError):
                raise self._error
            raise ServerError(f"the visitor server failed to start: {self._error}") from self._error
        assert self.server.port is not None
        return self.server.port

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        """Run a coroutine on the server's loop from another thread (e.g. an operator command)."""
        if self.loop is None or not self._ready.is_set():
            raise ServerError("the visitor server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 10.0) -> None:
        """Close every visitor, stop companions and the loop, join the thread. Safe to call twice."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        if self.loop is not None and self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the visitor server thread did not stop within %.0f s", timeout)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # the thread is the task boundary
            log.exception("the visitor server thread failed")
            self._error = self._error or exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        tasks = [asyncio.ensure_future(make()) for make in self.background]
        for task in tasks:
            task.add_done_callback(_report_companion)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.server.stop()


def _report_companion(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a visitor-server companion task failed", exc_info=task.exception())
