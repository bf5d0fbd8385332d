"""Keys on the projector window's keyboard, for the technician standing at the machine.

Each key is an operator command (``ShowControl.apply``), so a key press is checked, carried out and
logged exactly like the same button on the operator panel:

    b        blackout on/off
    f        freeze on/off
    g        the generator's dream / the live picture (shows with ``attract.source: generator``)
    s        snapshot of the picture on screen
    n        next: end the current prompt's turn
    Esc      quit (handled by the window itself)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

KEYS = {"b": "blackout", "f": "freeze", "g": "source", "s": "snapshot", "n": "skip"}


class Hotkeys:
    """Turns key names (pygame's ``key.name``) into operator commands; other keys are ignored."""

    def __init__(self, apply: Callable[[dict], dict], state: Callable[[], dict]) -> None:
        self.apply = apply  # ShowControl.apply
        self.state = state  # ShowControl.state

    def command(self, key: str) -> dict | None:
        """The operator command for ``key`` given the show's state now, or None for other keys."""
        name = KEYS.get(key.lower())
        if name is None:
            return None
        if name in ("blackout", "freeze"):
            flag = "blackout" if name == "blackout" else "frozen"
            return {"cmd": name, "on": not self.state().get(flag, False)}
        if name == "source":
            state = self.state()
            sources = state.get("sources") or []
            if len(sources) < 2:
                return {"cmd": "source", "name": "generator"}  # refused with the hint on how to get one
            current = state.get("selected_source")
            return {"cmd": "source", "name": "live" if current != "live" else next(s for s in sources if s != "live")}
        return {"cmd": name}

    def __call__(self, key: str) -> None:
        command = self.command(key)
        if command is None:
            return
        result = self.apply(command)
        if result.get("ok"):
            log.info("key %r: %s", key, command)
        else:
            log.warning("key %r: %s", key, result.get("error", "refused"))
