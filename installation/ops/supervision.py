"""systemd integration without extra dependencies: readiness, watchdog pings, status, health.

``sd_notify`` speaks systemd's notification protocol (one AF_UNIX datagram to ``$NOTIFY_SOCKET``;
a name starting with ``@`` is an abstract socket). Outside systemd it does nothing.

``Watchdog`` pings ``WATCHDOG=1`` only while the frame loop keeps ticking: if the loop stalls (a hung
driver, a deadlock), the pings stop, systemd's ``WatchdogSec=`` runs out and ``Restart=always``
brings the show back. ``Health`` is the same judgement for a ``/healthz`` HTTP route.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable

from engine.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0  # status updates when systemd asked for no watchdog


def sd_notify(message: str) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd; False when not under systemd or on failure."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.debug("NOTIFY_SOCKET %r is not a unix socket; not notifying", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
        return True
    except OSError as exc:
        log.warning("could not notify systemd at %r (%s): %s", os.environ.get("NOTIFY_SOCKET"), message, exc)
        return False


def watchdog_interval_s() -> float | None:
    """Half of systemd's ``$WATCHDOG_USEC`` in seconds, or None if systemd expects no pings from us."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; ignoring it", usec)
        return None
    return value / 2e6 if value > 0 else None


class Health:
    """Is the frame loop alive? Healthy while its last tick is at most ``stall_after_s`` old.

    ``degraded`` (optional) lists what is wrong while the show goes on (e.g. the picture is shown
    unstyled because no model loads): the report then says ``"status": "degraded"`` with the reasons,
    but the HTTP status stays 200, since restarting the show would not mend it."""

    def __init__(
        self,
        loop_last_tick: Callable[[], float],
        stall_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        degraded: Callable[[], list[str]] | None = None,
    ) -> None:
        if not (math.isfinite(stall_after_s) and stall_after_s > 0):
            raise ConfigError(f"stall_after_s must be a positive number of seconds, got {stall_after_s!r}")
        self.loop_last_tick = loop_last_tick
        self.stall_after_s = stall_after_s
        self.clock = clock
        self.degraded = degraded

    def tick_age_s(self) -> float:
        """Seconds since the frame loop's last tick (same clock as the loop: monotonic)."""
        return max(0.0, self.clock() - self.loop_last_tick())

    def healthy(self) -> bool:
        return self.tick_age_s() <= self.stall_after_s

    def status_code(self) -> int:
        """The HTTP status for ``/healthz``: 200 while the loop ticks, 503 when it stalls."""
        return 200 if self.healthy() else 503

    def report(self) -> dict:
        """A JSON-able body for ``/healthz``."""
        age = self.tick_age_s()
        ok = age <= self.stall_after_s
        reasons = list(self.degraded()) if self.degraded is not None else []
        status = "stalled" if not ok else "degraded" if reasons else "ok"
        report = {
            "status": status,
            "healthy": ok,
            "http_status": 200 if ok else 503,
            "last_tick_age_s": round(age, 3),
            "stall_after_s": self.stall_after_s,
        }
        if reasons:
            report["degraded"] = reasons
        return report


class Watchdog:
    """Tells systemd the show is up, alive, and what it is doing; goes quiet when the loop stalls.

    ``interval_s`` defaults to half of ``$WATCHDOG_USEC`` (or ``DEFAULT_INTERVAL_S`` when systemd set
    no watchdog). ``stats`` (optional) returns ``LiveStats.snapshot()`` for the ``STATUS=`` line;
    ``is_up`` (optional, e.g. ``lambda: loop.stats.frames > 0``) holds READY=1 back until it is True.
    ``beat()`` is one check-and-ping; ``start()`` runs it on a thread, ``stop()`` says ``STOPPING=1``.
    """

    def __init__(
        self,
        loop_last_tick: Callable[[], float],
        interval_s: float | None = None,
        stall_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        stats: Callable[[], dict] | None = None,
        is_up: Callable[[], bool] | None = None,
    ) -> None:
        self.health = Health(loop_last_tick, stall_after_s, clock)
        self.interval_s = interval_s if interval_s is not None else (watchdog_interval_s() or DEFAULT_INTERVAL_S)
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ConfigError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
        self.stats = stats
        self.is_up = is_up
        self.ready_sent = False
        self.stalled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _status(self) -> str:
        if self.stats is None:
            return "showing"
        try:
            snap = self.stats()
        except Exception as exc:  # a status line is not worth a missed ping
            log.debug("stats for STATUS= failed: %s", exc)
            return "showing"
        return (
            f"showing {float(snap.get('fps', 0.0)):.1f} fps, backend {snap.get('backend') or '?'}, "
            f"{snap.get('dropped', 0)} dropped, {snap.get('errors', 0)} errors"
        )

    def beat(self) -> bool:
        """Ping systemd if the loop ticked recently (READY=1 the first time); True if it pinged."""
        if not self.health.healthy():
            age = self.health.tick_age_s()
            if not self.stalled:
                log.error(
                    "frame loop stalled: no tick for %.1f s; stopping watchdog pings so systemd restarts the show", age
                )
            self.stalled = True
            sd_notify(f"STATUS=frame loop stalled for {age:.0f} s")
            return False
        if self.stalled:
            log.warning("frame loop ticks again; watchdog pings resume")
            self.stalled = False
        if not self.ready_sent and (self.is_up is None or self.is_up()):
            sd_notify("READY=1")
            self.ready_sent = True
            log.info("told systemd the show is ready")
        sd_notify("WATCHDOG=1")
        sd_notify(f"STATUS={self._status()}")
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # the watchdog thread must outlive a bad stats callback
                log.exception("watchdog beat failed")
            self._stop.wait(self.interval_s)

    def start(self) -> Watchdog:
        """Beat at once (READY=1 as soon as the loop ticks), then every ``interval_s`` seconds."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="laterna-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pinging and tell systemd the show is stopping; safe to call more than once."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._thread = None
        sd_notify("STOPPING=1")

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
