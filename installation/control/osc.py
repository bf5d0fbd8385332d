"""OSC for show-control systems (QLab, TouchDesigner, Resolume): cues in, live state out.

``OscControl`` listens for UDP OSC messages and turns them into frame-loop events through
``loop_post`` (``FrameLoop.post``); it never touches loop state itself. Prompts go through
``submit_prompt``, i.e. the same moderation as visitors' prompts. Anything malformed (unknown
address or style, wrong type, NaN, out of range) is logged at WARNING and ignored: a typo in a cue
list must never take the show down. Messages are handled one at a time, in arrival order, on one
server thread, so a cue that fades two styles in a row lands in that order.

``OscFeedback`` sends the live state (fps, current prompt, the mix on screen) to one OSC receiver
from its own thread, so a slow or absent receiver never holds up the frame loop.

Addresses and arguments are documented in docs/osc.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from engine.errors import ConfigError, EngineError
from engine.events import Blackout, Event, SetStrength, SetStyleWeight
from engine.style import StyleMix

log = logging.getLogger(__name__)

PREFIX = "/laterna"


def _number(args: tuple, address: str, low: float, high: float) -> float | None:
    """The one numeric argument of a message, or None (and a warning) if it is not one in [low, high]."""
    if len(args) != 1:
        log.warning(
            "OSC %s: expected one number from %g to %g, got %d arguments %r", address, low, high, len(args), args
        )
        return None
    value = args[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        log.warning(
            "OSC %s: expected a number from %g to %g, got %s %r", address, low, high, type(value).__name__, value
        )
        return None
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        log.warning("OSC %s: expected a number from %g to %g, got %r", address, low, high, value)
        return None
    return value


class _SafeOSCServer(BlockingOSCUDPServer):
    """A blocking OSC server whose request errors are logged, never printed or fatal."""

    def handle_error(self, request, client_address) -> None:
        log.exception("OSC message from %s could not be handled", client_address)


class OscControl:
    """Receives show-control OSC and posts the matching events to the frame loop.

    ``current_target`` returns the loop's published target mix (``lambda: loop.target``), to check the
    show has the styles OSC knows; a style message posts ``SetStyleWeight``, which the loop applies to
    its own target when it ticks. ``port=0`` binds a free port; ``port`` says which after ``start()``.

    ``zones`` (a cluster hub with ``bus.zones``): per zone an ``OscControl`` (never started itself) whose
    post, target and prompts are that zone's; its messages are this server's under ``/laterna/zone/<zone>/``
    (``/laterna/zone/room-2/blackout 1``). The plain addresses stay this control's: every zone.
    """

    def __init__(
        self,
        loop_post: Callable[[Event], Any],
        style_names: list[str],
        current_target: Callable[[], StyleMix],
        submit_prompt: Callable[[str], None] | None,
        host: str = "0.0.0.0",
        port: int = 9000,
        zones: Mapping[str, OscControl] | None = None,
    ) -> None:
        self.loop_post = loop_post
        self.zones = dict(zones or {})
        self.style_names = list(style_names)
        self.current_target = current_target
        self.submit_prompt = submit_prompt
        self.host = host
        self._port = port
        self._server: _SafeOSCServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound UDP port (the real one when constructed with port 0 and started)."""
        return self._server.server_address[1] if self._server else self._port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def dispatcher(self) -> Dispatcher:
        d = Dispatcher(strict_timing=False)  # bundles are applied on arrival, never parked in a sleep
        self._map(d, PREFIX)
        for zone, control in self.zones.items():
            control._map(d, f"{PREFIX}/zone/{zone}")
        d.set_default_handler(self._guard(self._on_unknown))
        return d

    def _map(self, d: Dispatcher, prefix: str) -> None:
        """This control's messages under ``prefix``."""
        for name in self.style_names:
            d.map(f"{prefix}/style/{name}", self._guard(self._on_style), name)
        d.map(f"{prefix}/strength", self._guard(self._on_strength))
        d.map(f"{prefix}/blackout", self._guard(self._on_blackout))
        d.map(f"{prefix}/prompt", self._guard(self._on_prompt))

    def start(self) -> OscControl:
        """Bind the UDP port and serve on a daemon thread; ConfigError if the port cannot be bound."""
        if self._server is not None:
            return self
        try:
            self._server = _SafeOSCServer((self.host, self._port), self.dispatcher())
        except OSError as exc:
            raise ConfigError(
                f"OSC: cannot listen on UDP {self.host}:{self._port} ({exc}); "
                f"is another show running, or choose another port"
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="laterna-osc", daemon=True
        )
        self._thread.start()
        log.info("OSC control listening on udp://%s:%d (%s/...)", self.host, self.port, PREFIX)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call more than once."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        log.info("OSC control stopped")

    def __enter__(self) -> OscControl:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- handlers (server thread) --------------------------------------------------------------------
    def _guard(self, handler: Callable[..., None]) -> Callable[..., None]:
        def guarded(address: str, *args: Any) -> None:
            try:
                handler(address, *args)
            except EngineError as exc:  # e.g. a mix the engine refuses
                log.warning("OSC %s %r ignored: %s", address, args, exc)
            except Exception:  # a bug in a handler must not end the server thread
                log.exception("OSC %s %r failed", address, args)
            return None  # python-osc would send a non-None result back as a reply

        return guarded

    def _post(self, event: Event) -> None:
        if self.loop_post(event) is False:
            log.warning("OSC: the frame loop refused %s (event queue full)", type(event).__name__)

    def _on_style(self, address: str, fixed: list, *args: Any) -> None:
        name = fixed[0]
        weight = _number(args, address, 0.0, 1.0)
        if weight is None:
            return
        styles = self.current_target().n_styles
        if styles != len(self.style_names):
            log.warning(
                "OSC %s ignored: the show's mix has %d styles, OSC knows %d", address, styles, len(self.style_names)
            )
            return
        # the loop applies it to its own target when it ticks: quick cues build on each other, nothing to guess
        self._post(SetStyleWeight(self.style_names.index(name), weight, label=f"osc: {name} {weight:g}"))
        log.info("OSC style %s -> %g", name, weight)

    def _on_strength(self, address: str, *args: Any) -> None:
        strength = _number(args, address, 0.0, 1.0)
        if strength is None:
            return
        self._post(SetStrength(strength))
        log.info("OSC strength -> %g", strength)

    def _on_blackout(self, address: str, *args: Any) -> None:
        if len(args) != 1 or not isinstance(args[0], (bool, int, float)) or args[0] not in (0, 1):
            log.warning("OSC %s: expected 0 (picture) or 1 (black), got %r", address, args)
            return
        on = bool(args[0])
        if self.loop_post(Blackout(on)) is False:
            log.warning("OSC: the frame loop refused Blackout (event queue full)")
        log.info("OSC blackout %s", "on" if on else "off")

    def _on_prompt(self, address: str, *args: Any) -> None:
        if not args or not all(isinstance(a, str) for a in args):
            log.warning("OSC %s: expected text, got %r", address, args)
            return
        text = " ".join(a.strip() for a in args).strip()
        if not text:
            log.warning("OSC %s: empty prompt ignored", address)
            return
        if self.submit_prompt is None:
            log.warning("OSC %s ignored: prompts are not enabled in this show", address)
            return
        self.submit_prompt(text)
        log.info("OSC prompt submitted: %r", text)

    def _on_unknown(self, address: str, *args: Any) -> None:
        if address.startswith(f"{PREFIX}/zone/") and address.split("/")[3] not in self.zones:
            log.warning(
                "OSC %s: no zone %r here (zones: %s)", address, address.split("/")[3], list(self.zones) or "none"
            )
        elif address.startswith(f"{PREFIX}/style/"):
            log.warning(
                "OSC %s: unknown style %r; this model has %s", address, address.rsplit("/", 1)[-1], self.style_names
            )
        else:
            log.warning("OSC %s %r: unknown address (see docs/osc.md)", address, args)


def director_submitter(
    submit: Callable[[str, str], Any], director_loop: asyncio.AbstractEventLoop, visitor_id: str = "osc"
) -> Callable[[str], None]:
    """A ``submit_prompt`` for ``OscControl`` that hands text to ``Director.submit`` on its asyncio loop.

    Pass the bound method: ``director_submitter(director.submit, loop)``. It returns at once; the
    Director's answer (queued or rejected, and why) is logged when it arrives.
    """

    def submit_prompt(text: str) -> None:
        future = asyncio.run_coroutine_threadsafe(submit(visitor_id, text), director_loop)

        def done(f) -> None:
            try:
                reply = f.result()
            except Exception:
                log.exception("director could not take the OSC prompt %r", text)
                return
            if isinstance(reply, dict) and reply.get("type") == "rejected":
                log.warning("OSC prompt %r declined: %s", text, reply.get("reason", "no reason given"))
            else:
                log.info("OSC prompt %r: %s", text, reply.get("type") if isinstance(reply, dict) else reply)

        future.add_done_callback(done)

    return submit_prompt


class OscFeedback:
    """Sends the show's state as OSC to ``client_host:client_port`` every ``every_s`` seconds.

    ``stats`` returns ``LiveStats.snapshot()`` (``fps``, ``strength``, ``mix`` {style: weight});
    ``prompt`` returns the prompt on screen or None. Sent: ``/laterna/fps f``, ``/laterna/strength f``,
    ``/laterna/prompt s`` ("" when none) and ``/laterna/style/<name> f`` for each style. On a hub with zones,
    ``zones`` returns each zone's prompt on screen, sent as ``/laterna/zone/<zone>/prompt s``.
    """

    def __init__(
        self,
        client_host: str,
        client_port: int,
        stats: Callable[[], dict],
        prompt: Callable[[], str | None],
        every_s: float = 1.0,
        zones: Callable[[], dict[str, str | None]] | None = None,
    ) -> None:
        if not (math.isfinite(every_s) and every_s > 0):
            raise ConfigError(f"OSC feedback: every_s must be a positive number of seconds, got {every_s!r}")
        self.zones = zones
        self.client = SimpleUDPClient(client_host, client_port)
        self.target = (client_host, client_port)
        self.stats = stats
        self.prompt = prompt
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def messages(self) -> list[tuple[str, Any]]:
        """The messages one update sends, as (address, value) pairs."""
        stats = self.stats()
        out: list[tuple[str, Any]] = [(f"{PREFIX}/fps", float(stats.get("fps", 0.0)))]
        if "strength" in stats:
            out.append((f"{PREFIX}/strength", float(stats["strength"])))
        out.append((f"{PREFIX}/prompt", self.prompt() or ""))
        for name, weight in stats.get("mix", {}).items():
            out.append((f"{PREFIX}/style/{name}", float(weight)))
        for zone, prompt in (self.zones() if self.zones else {}).items():
            out.append((f"{PREFIX}/zone/{zone}/prompt", prompt or ""))
        return out

    def send_once(self) -> int:
        """Send one update now; the number of messages sent (0 if the receiver could not be reached)."""
        try:
            messages = self.messages()
            for address, value in messages:
                self.client.send_message(address, value)
        except OSError as exc:
            if not self._failing:
                log.warning("OSC feedback to %s:%d failed: %s", *self.target, exc)
            self._failing = True
            return 0
        if self._failing:
            log.info("OSC feedback to %s:%d works again", *self.target)
        self._failing = False
        return len(messages)

    def node_change(self, name: str, change: str) -> bool:
        """A render node of a cluster went or came back: ``/laterna/node s s`` (its name, "gone" | "back" |
        "new"), sent at once; False if the receiver could not be reached."""
        try:
            self.client.send_message(f"{PREFIX}/node", [name, change])
        except OSError as exc:
            log.warning("OSC node alert to %s:%d failed: %s", *self.target, exc)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_once()
            except Exception:  # a failing stats callback must not end the feedback thread
                log.exception("OSC feedback update failed")
            self._stop.wait(self.every_s)

    def start(self) -> OscFeedback:
        """Send an update at once, then every ``every_s`` seconds, from a daemon thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="laterna-osc-feedback", daemon=True)
            self._thread.start()
            log.info("OSC feedback to udp://%s:%d every %g s", *self.target, self.every_s)
        return self

    def stop(self) -> None:
        """Stop the thread and close the socket; safe to call more than once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self.client.close()

    def __enter__(self) -> OscFeedback:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
