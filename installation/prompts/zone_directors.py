"""A cluster hub's Directors, one per zone, behind the one ``DirectorLike`` the visitor server talks to.

Each zone (``bus.zones``) has its own Director: its own queue, turns and attract mode, so room 1 need not
wait for room 2's visitors. A visitor's page names its zone (``/?zone=room-2``, the kiosk or the QR code in
that room); the server calls ``enter`` when the visitor connects, and every later call for that visitor
goes to its zone's Director. A page without a zone, or with a zone the hub does not direct, steers the
default zone: the first in ``bus.zones`` (an unknown name is warned about once). Moderation, the flood
guard and the per-address caps stay show-wide: the Directors share one moderator, and the server's guards
sit in front of all of them. Runs on the server's asyncio loop, like the Directors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from installation.prompts.director import Director, Send

log = logging.getLogger(__name__)


class ZoneDirectors:
    """See the module docstring. ``directors`` in ``bus.zones`` order; the first is the default zone."""

    def __init__(self, directors: Mapping[str, Director]) -> None:
        if not directors:
            raise ValueError("ZoneDirectors needs at least one zone")
        self.directors = dict(directors)
        self.default = next(iter(self.directors))
        self._zone_of: dict[str, str] = {}  # visitor id -> zone
        self._unknown: set[str] = set()  # zone names asked for that the hub does not direct (warned once)

    def enter(self, visitor_id: str, zone: str | None) -> Director:
        """A visitor connected from a page of ``zone`` (None: no zone in its address): their Director."""
        name = zone or self.default
        if name not in self.directors:
            if len(self._unknown) < 64 and name not in self._unknown:  # bounded: anyone can type an address
                self._unknown.add(name)
                log.warning(
                    "a visitor page asked for zone %r, which this hub does not direct (%s); it steers %s",
                    name[:40],
                    ", ".join(self.directors),
                    self.default,
                )
            name = self.default
        self._zone_of[visitor_id] = name
        return self.directors[name]

    def zone_of(self, visitor_id: str) -> str:
        return self._zone_of.get(visitor_id, self.default)

    def of(self, visitor_id: str) -> Director:
        return self.directors[self.zone_of(visitor_id)]

    # -- DirectorLike ---------------------------------------------------------------------------------------
    async def submit(self, visitor_id: str, text: str, newcomer: bool = False) -> dict:
        return await self.of(visitor_id).submit(visitor_id, text, newcomer)

    def subscribe(self, visitor_id: str, send: Send) -> None:
        self.of(visitor_id).subscribe(visitor_id, send)

    def unsubscribe(self, visitor_id: str) -> None:
        self.of(visitor_id).unsubscribe(visitor_id)
        self._zone_of.pop(visitor_id, None)

    def visitor_state(self) -> dict:
        """The default zone's (the server asks the visitor's own Director, from ``enter``, when it can)."""
        return self.directors[self.default].visitor_state()

    def status(self) -> dict:
        """The default zone's status, and per zone its mode, prompt and queue length."""
        statuses = {name: d.status() for name, d in self.directors.items()}
        out = dict(statuses[self.default])
        out["zones"] = {
            name: {key: st[key] for key in ("prompt", "mode", "queue_length", "pinned")}
            for name, st in statuses.items()
        }
        return out
