"""The bus of a single-machine show: ``post`` is the frame loop's own ``post``, nothing in between."""

from __future__ import annotations

from collections.abc import Callable

from engine.events import Event
from installation.bus.base import Bus


class InProcessBus(Bus):
    """Events go straight to the loop's queue, exactly as they did before the bus existed."""

    def __init__(self, loop_post: Callable[[Event], bool]) -> None:
        self._post = loop_post

    def post(self, event: Event, zone: str | None = None) -> bool:
        return self._post(event)  # one machine, one loop: the show has one zone
