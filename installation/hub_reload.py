"""A hub's config reload: the same file watch as a one-machine show (``installation.config.reload``),
applied to what a hub owns.

- ``style.transition_s``, ``style.easing``, ``style.strength``: posted on the bus, so the hub's state
  changes and every render node follows it.
- ``director``, ``moderation``, ``attract``: the Director's pacing, moderator and attract mode, changed
  on the Director's own thread (the server thread) by a submitted coroutine.
- ``hours``: the Director's copy of the opening hours (outside them visitors are told when the show
  opens). The nodes black out by their own ``hours:`` section.

Everything else (the bus, the server, the model...) is named as needing a restart and left alone. A file
that is empty or does not load is refused with one WARNING, and the hub keeps running as it was.

Threads: ``check()`` runs on the hub's main thread (its 0.2 s wait loop), like the tick hook of a
one-machine show; SIGHUP (where the hub runs on the main thread) makes the next check reload at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError
from engine.events import SetStrength, SetTransition
from installation.config.reload import ConfigReloader, ReloadResult
from installation.config.schema import ShowConfig
from installation.control.schedule import OpeningHours

if TYPE_CHECKING:
    from installation.hub import HubInstallation

log = logging.getLogger(__name__)


class HubReloader:
    """Watches the hub's config file; ``check()`` (hub main thread) reloads it when it changed."""

    def __init__(self, hub: HubInstallation, every_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.watch = ConfigReloader(hub.cfg.source_file, hub.cfg, self._apply, every_s, clock)
        self._director_cfg = hub.cfg  # the config the Director runs with: server thread only

    @classmethod
    def start(cls, hub: HubInstallation) -> HubReloader | None:
        """The reloader of a hub loaded from a file (None without one); the opening hours go to the
        Director; SIGHUP forces a reload when called on the main thread."""
        path = hub.cfg.source_file
        if not path or not Path(path).is_file():
            return None
        reloader = cls(hub)
        reloader.watch.force = True  # the first check compares the file with what the hub started with:
        # an edit made while the hub was starting is not missed (no change: nothing is said)
        if hub.cfg.hours.schedule:
            reloader._on_server_thread(reloader._set_hours(hub.cfg), "the opening hours")
        if threading.current_thread() is threading.main_thread():
            watch = reloader.watch
            signal.signal(signal.SIGHUP, lambda *_: setattr(watch, "force", True))
        return reloader

    @property
    def current(self) -> ShowConfig:
        """The config the hub runs with now (the file's safe settings as of the last good reload)."""
        return self.watch.current

    def check(self) -> ReloadResult | None:
        """(hub main thread) Reload if the file changed (cheap when it did not)."""
        return self.watch.check()

    def _apply(self, old: ShowConfig, new: ShowConfig) -> None:
        """(hub main thread) The nodes' look by bus events; the Director's settings on its own thread."""
        bus = self.hub.bus
        if (new.style.transition_s, new.style.easing) != (old.style.transition_s, old.style.easing):
            bus.post(SetTransition(new.style.transition_s, new.style.easing))
        if new.style.strength != old.style.strength:
            bus.post(SetStrength(new.style.strength))
        if (new.director, new.moderation, new.attract, new.hours) != (
            old.director,
            old.moderation,
            old.attract,
            old.hours,
        ):
            self._on_server_thread(self._reconfigure(new), "the reloaded director settings")

    def _on_server_thread(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        thread = self.hub.server_thread
        try:
            if thread is None:
                raise RuntimeError("the visitor server is not running")
            thread.submit(coro)
        except (EngineError, RuntimeError) as exc:  # stopping, or never started: nothing there to change
            coro.close()
            log.info("%s were not applied: %s", what, exc)

    async def _set_hours(self, cfg: ShowConfig) -> None:
        """(server thread) The Directors' opening hours (None: prompts are welcome at any time), every zone's."""
        for director in self.hub.directors.values():
            director.hours = OpeningHours(cfg.hours.schedule) if cfg.hours.schedule else None

    async def _reconfigure(self, new: ShowConfig) -> None:
        """(server thread) Pacing, moderation, attract mode and opening hours from a reloaded config."""
        from installation.app import reconfigure_directors

        old, self._director_cfg = self._director_cfg, new
        hub = self.hub
        reconfigure_directors(list(hub.directors.values()), old, new, hub.embedder, len(hub.manifest.style_names))
        if new.hours != old.hours:
            await self._set_hours(new)
        log.info("the hub's director has the reloaded settings")
