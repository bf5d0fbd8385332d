"""The visitor server: a thin adapter joining ``websockets`` to the pure protocol, the page and the Director.

One port serves the visitor page (``/``, ``/static/...``), ``/status``, ``/qr.svg`` and the
websocket ``/ws``. Plain GETs are answered in ``process_request`` (see ``visitor_page``); each
websocket visitor gets a random id, is subscribed to the Director, and has every message passed
through ``FloodGuard`` and ``parse_message`` (see ``protocol``). A visitor who breaks the protocol
gets a reply and, where the protocol says so, is closed with its close code; nobody else notices.

``PromptServer`` runs in an asyncio loop; ``ServerThread`` gives it one of its own in a background
thread, because the frame loop owns the main thread. Prompts are logged without client addresses
unless ``log_addresses=True``; visitor ids are random, never derived from an address.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields
from http import HTTPStatus
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from engine.errors import ConfigError, EngineError
from installation import protocol
from installation.protocol import (ConnectionLimiter, FloodGuard, Ping, ProtocolLimits, ProtocolViolation,
                                   RateLimiter, parse_message)
from installation.visitor_page import WEB_ROOT, HttpReply, VisitorPage, text_reply

log = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]


class ServerError(EngineError):
    """The visitor server could not start (address in use, no permission) or stopped unexpectedly."""


class DirectorLike(Protocol):
    async def submit(self, visitor_id: str, text: str) -> dict: ...
    def subscribe(self, visitor_id: str, send: Send) -> None: ...
    def unsubscribe(self, visitor_id: str) -> None: ...
    def status(self) -> dict: ...


@dataclass(frozen=True)
class VisitorServerSettings:
    host: str = "0.0.0.0"
    port: int = 8765  # 0: any free port (tests)
    max_message_bytes: int = 4096
    max_prompt_chars: int = 280
    max_connections: int = 200
    max_connections_per_address: int = 4
    idle_timeout_s: float = 180.0  # visitors with nothing pending who say nothing for this long are closed
    rate_per_connection: float = 0.5  # messages a second, sustained
    burst_per_connection: int = 5
    rate_per_address: float = 2.0
    burst_per_address: int = 20
    http_rate_per_address: float = 10.0  # plain GETs (page, assets, status, QR) a second
    http_burst_per_address: int = 40
    flood_warnings: int = 1  # "slow down" replies before a flood closes the connection with 1008
    send_timeout_s: float = 5.0  # a visitor who cannot take a message this long is closed
    origins: tuple[str, ...] = ()  # allowed Origin headers for /ws; empty: any. No Origin (non-browser) is allowed
    log_addresses: bool = False
    page_title: str = "Laterna"
    public_url: str = ""  # the address in the QR code; empty: guessed from the request or this machine

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
                problems.append(f"{f.name}: expected a number, got {value!r}")
            elif f.type in ("int", "float") and f.name != "port" and f.name != "flood_warnings" and value <= 0:
                problems.append(f"{f.name}: expected a number > 0, got {value!r}")
        if isinstance(self.port, int) and not 0 <= self.port <= 65535:
            problems.append(f"port: expected 0..65535, got {self.port!r}")
        if isinstance(self.flood_warnings, int) and self.flood_warnings < 0:
            problems.append(f"flood_warnings: expected 0 or more, got {self.flood_warnings!r}")
        if isinstance(self.max_message_bytes, int) and self.max_message_bytes < 64:
            problems.append(f"max_message_bytes: expected at least 64, got {self.max_message_bytes!r}")
        if isinstance(self.origins, str) or not all(isinstance(o, str) and o for o in self.origins):
            problems.append(f"origins: expected a list of origins like 'http://kiosk.local:8765', got {self.origins!r}")
        if problems:
            raise ConfigError("VisitorServerSettings: " + "; ".join(problems))

    def limits(self) -> ProtocolLimits:
        return ProtocolLimits(self.max_message_bytes, self.max_prompt_chars)


def lan_address() -> str:
    """This machine's address on the local network (no packet is sent), or 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class _Visitor:
    """One websocket visitor: its random id, its connection, and what it is waiting for."""

    def __init__(self, server: PromptServer, ws: ServerConnection, address: str) -> None:
        self.id = secrets.token_urlsafe(12)
        self.server = server
        self.ws = ws
        self.address = address
        self.last_activity = server.clock()
        self.waiting_for: str | None = None  # the id of the visitor's prompt in the queue, if any
        self._shown: deque[str] = deque(maxlen=16)  # "showing" may overtake "queued"

    def idle_for(self) -> float:
        """Seconds since anything was said either way; 0 while the visitor's prompt waits for its turn."""
        return 0.0 if self.waiting_for else self.server.clock() - self.last_activity

    def _note_queued(self, prompt_id: object) -> None:
        if isinstance(prompt_id, str) and prompt_id not in self._shown:
            self.waiting_for = prompt_id  # a newer prompt replaces the visitor's pending one

    async def push(self, message: dict) -> None:
        """What the Director holds: a message it sends on its own (positions, showing, expiry)."""
        kind, prompt_id = message.get("type"), message.get("id")
        if kind == "queued":
            self._note_queued(prompt_id)
        elif kind == "showing" and isinstance(prompt_id, str):
            self._shown.append(prompt_id)
            if self.waiting_for == prompt_id:
                self.waiting_for = None
        elif kind == "rejected":  # the Director dropped the pending prompt (it waited too long)
            self.waiting_for = None
        await self.send(message)

    async def reply(self, message: dict) -> None:
        """An answer to the visitor's own message."""
        if message.get("type") == "queued":
            self._note_queued(message.get("id"))
        await self.send(message)

    async def send(self, message: dict) -> None:
        """Send one server message. Never raises for a visitor who has gone or cannot keep up."""
        try:
            text = protocol.encode(message)
        except (TypeError, ValueError):
            log.error("visitor %s: not sending a malformed message %r", self.id, message)
            return
        self.last_activity = self.server.clock()
        try:
            async with asyncio.timeout(self.server.settings.send_timeout_s):
                await self.ws.send(text)
        except ConnectionClosed:
            pass
        except TimeoutError:
            log.warning("visitor %s: could not take a message for %.0f s; closing", self.id,
                        self.server.settings.send_timeout_s)
            self.server._spawn(self.ws.close(protocol.CLOSE_POLICY_VIOLATION, "Too slow to read replies."))


class PromptServer:
    """Serves the visitor page and the prompt websocket on one port; see the module docstring."""

    def __init__(self, director: DirectorLike, settings: VisitorServerSettings = VisitorServerSettings(),
                 status_provider: Callable[[], dict] | None = None, *, web_root=WEB_ROOT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # clock: monotonic seconds for rate limits and idle times (injectable for tests)
        self.director = director
        self.settings = settings
        self.status_provider = status_provider
        self.clock = clock
        self.limits = settings.limits()
        self.connections = ConnectionLimiter(settings.max_connections, settings.max_connections_per_address)
        self.flood = FloodGuard(RateLimiter(settings.rate_per_connection, settings.burst_per_connection, clock),
                                RateLimiter(settings.rate_per_address, settings.burst_per_address, clock),
                                warnings=settings.flood_warnings)
        self.http_rate = RateLimiter(settings.http_rate_per_address, settings.http_burst_per_address, clock)
        self.page = VisitorPage(settings.page_title, web_root, self.status, settings.public_url, lambda: self.url)
        self.visitors: dict[str, _Visitor] = {}
        self.port: int | None = None
        self._server: Server | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- life ------------------------------------------------------------------------------------------
    async def start(self) -> int:
        """Bind and serve; returns the port (the real one when ``port=0``). Raises ``ServerError``."""
        s = self.settings
        try:
            self._server = await serve(
                self._handle, s.host, s.port,
                process_request=self._process_request,
                origins=[*s.origins, None] if s.origins else None,
                compression=None, max_size=s.max_message_bytes, max_queue=16,
                open_timeout=10, close_timeout=3, ping_interval=20, ping_timeout=20,
                server_header="Laterna", logger=logging.getLogger(f"{__name__}.wire"),
            )
        except OSError as exc:
            raise ServerError(f"cannot serve visitors on {s.host}:{s.port}: {exc.strerror or exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("visitor page at %s (websocket %s)", self.url, "/ws")
        return self.port

    async def stop(self) -> None:
        """Close every visitor (1001 going away) and stop listening. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
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
        return f"http://{host}:{self.port}/"

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
        reply = self.page.reply(request.method, request.path, hosts[0] if len(hosts) == 1 else None)
        if reply is not None:
            return _response(reply)
        if not self.connections.would_admit(address):
            log.info("a visitor was turned away: %d connected", self.connections.total)
            return _response(text_reply(503, protocol.REASON_BUSY, ("Retry-After", "30")))
        return None  # the websocket handshake goes on

    # -- websocket ----------------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        address = _address(ws)
        if not self.connections.try_acquire(address):
            await ws.close(protocol.CLOSE_TRY_AGAIN_LATER, protocol.REASON_BUSY)
            return
        visitor = _Visitor(self, ws, address)
        self.visitors[visitor.id] = visitor
        where = f" from {address}" if self.settings.log_addresses else ""
        log.info("visitor %s connected%s (%d now)", visitor.id, where, len(self.visitors))
        try:
            self.director.subscribe(visitor.id, visitor.push)
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
            try:
                self.director.unsubscribe(visitor.id)
            except Exception:
                log.exception("visitor %s: the director failed to let them go", visitor.id)
            log.info("visitor %s left (%d now)", visitor.id, len(self.visitors))

    async def _converse(self, visitor: _Visitor) -> None:
        idle_limit = self.settings.idle_timeout_s
        while True:
            try:
                async with asyncio.timeout(max(0.05, idle_limit - visitor.idle_for())):
                    data = await visitor.ws.recv()
            except TimeoutError:  # cancelling recv() loses nothing (websockets guarantees it)
                if visitor.idle_for() >= idle_limit:
                    log.info("visitor %s: idle for %.0f s, closing", visitor.id, idle_limit)
                    await visitor.ws.close(protocol.CLOSE_NORMAL, protocol.REASON_IDLE)
                    return
                continue
            visitor.last_activity = self.clock()
            try:
                self.flood.admit(visitor.id, visitor.address)
                message = parse_message(data, self.limits)
            except ProtocolViolation as violation:
                await visitor.reply(violation.reply)
                if violation.closes:
                    log.info("visitor %s: closing (%d): %s", visitor.id, violation.close_code, violation)
                    await visitor.ws.close(violation.close_code, violation.close_reason)
                    return
                continue
            if isinstance(message, Ping):
                await visitor.reply(protocol.pong())
                continue
            await self._submit(visitor, message.text)

    async def _submit(self, visitor: _Visitor, text: str) -> None:
        where = f" from {visitor.address}" if self.settings.log_addresses else ""
        log.info("visitor %s%s: prompt %r", visitor.id, where, text)
        try:
            reply = await self.director.submit(visitor.id, text)
        except Exception:
            log.exception("visitor %s: the director failed on a prompt", visitor.id)
            reply = protocol.error(protocol.REASON_INTERNAL)
        if not isinstance(reply, dict) or reply.get("type") not in ("queued", "rejected"):
            log.error("visitor %s: the director answered %r; expected queued or rejected", visitor.id, reply)
            reply = protocol.error(protocol.REASON_INTERNAL)
        await visitor.reply(reply)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _address(connection: ServerConnection) -> str:
    peer = connection.remote_address
    return str(peer[0]) if peer else "unknown"


def _response(reply: HttpReply) -> Response:
    return Response(reply.status, HTTPStatus(reply.status).phrase, Headers(list(reply.headers)), reply.body)


class ServerThread:
    """Runs a ``PromptServer`` (and optional companions such as ``director.run``) in an asyncio loop
    on a background thread. ``start()`` returns the port once serving; ``stop()`` ends it all."""

    def __init__(self, server: PromptServer,
                 background: Iterable[Callable[[], Awaitable[Any]]] = (), name: str = "visitor-server") -> None:
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

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future:
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
