"""Visitor sessions without sockets: who is connected, what each is waiting for, and the resume book.

A ``Session`` is one websocket visitor as the show knows it: a random id (never derived from an
address), a secret resume token, the time it last said or heard anything, the id of its prompt
waiting in the queue and the last ``queued``/``showing``/``rejected`` it was sent. ``Sessions``
owns them all and the book of *places kept*: a visitor whose connection drops while their prompt
waits keeps it for ``grace_s`` under the resume token of their last ``queued``; a new connection
that sends that token in time takes the place over (``resume``). Everything runs on an injected
clock, so the grace period is tested without sleeping; the server (``prompt_server``) keeps only
I/O: it calls ``open``/``close``/``resume``, sends what ``outgoing`` returns, and lets the
Director go of the visitor ids that ``close`` and ``expire`` hand back.

A session is a *newcomer* (``newcomer``) for its first ``settle_s`` seconds: its prompts count
against newcomers' shared budget and share of the queue (``installation.prompts.queue``), so a flood
of fresh connections cannot crowd out visitors who have been on the page a while. A visitor who
resumes a kept place keeps the time they first connected.

Kept places are cheap to make (connect, prompt, disconnect), so they are bounded: at most
``max_kept_per_address`` per address and ``max_kept`` in all, the oldest going first. An
address-hopping flood of connect-prompt-disconnect therefore holds at most ``max_kept`` places in the
queue, and only for ``grace_s``.

Not thread-safe: one owner, the server's asyncio loop.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError

log = logging.getLogger(__name__)

STATUS_TYPES = ("queued", "showing", "rejected")


@dataclass
class Session:
    """One connected visitor; see the module docstring."""

    id: str
    token: str  # sent with every "queued": lets this visitor come back to its place
    address: str
    last_activity: float
    since: float = 0.0  # clock time the visitor connected (their first connection, when they resumed)
    waiting_for: str | None = None  # the id of the visitor's prompt in the queue, if any
    last_status: dict[str, Any] | None = None  # the last queued/showing/rejected it was sent
    shown: deque[str] = field(default_factory=lambda: deque(maxlen=16))  # "showing" may overtake "queued"


@dataclass
class KeptPlace:
    """A visitor whose connection dropped while their prompt waited, kept for them to come back."""

    visitor_id: str
    address: str
    deadline: float  # clock time after which the place is withdrawn
    last: dict[str, Any] | None  # the last queued/showing/rejected meant for them (updated while away)
    since: float = 0.0  # when they first connected


class Sessions:
    """Every visitor session and every kept place; see the module docstring."""

    def __init__(
        self,
        grace_s: float = 120.0,
        max_kept: int = 16,
        max_kept_per_address: int = 2,
        clock: Callable[[], float] = time.monotonic,
        new_secret: Callable[[int], str] = secrets.token_urlsafe,
        settle_s: float = 0.0,
    ) -> None:
        # grace_s: how long a dropped visitor's waiting prompt is kept (0: not at all)
        # settle_s: a session is a newcomer this long after connecting (0: nobody is)
        # new_secret: n bytes -> URL-safe text, for ids and tokens (injectable for tests)
        if not 0 <= grace_s <= 3600:
            raise ConfigError(f"Sessions.grace_s: expected 0 (off) to 3600 seconds, got {grace_s!r}")
        if max_kept < 0 or max_kept_per_address < 0:
            raise ConfigError(f"Sessions: expected caps >= 0, got {max_kept!r}, {max_kept_per_address!r}")
        if not 0 <= settle_s <= 600:
            raise ConfigError(f"Sessions.settle_s: expected 0 (off) to 600 seconds, got {settle_s!r}")
        self.settle_s = float(settle_s)
        self.grace_s = float(grace_s)
        self.max_kept = max_kept
        self.max_kept_per_address = max_kept_per_address
        self.clock = clock
        self.new_secret = new_secret
        self.connected: dict[str, Session] = {}  # visitor id -> session
        self.kept: OrderedDict[str, KeptPlace] = OrderedDict()  # resume token -> place, oldest first

    def __len__(self) -> int:
        return len(self.connected)

    # -- a connection's life -------------------------------------------------------------------------
    def open(self, address: str) -> Session:
        """A new connection: a fresh session with a random id and resume token."""
        now = self.clock()
        session = Session(self.new_secret(12), self.new_secret(18), address, now, since=now)
        self.connected[session.id] = session
        return session

    def close(self, session: Session, keep: bool = True) -> list[str]:
        """The connection has gone. Its place is kept if its prompt waits (and ``grace_s`` > 0, and ``keep``:
        False when the server stops); returns the visitor ids the Director should now let go of (this one if
        its place is not kept, and any older places the caps push out)."""
        self.connected.pop(session.id, None)
        if not (
            keep and session.waiting_for and self.grace_s > 0 and self.max_kept > 0 and self.max_kept_per_address > 0
        ):
            return [session.id]
        self.kept[session.token] = KeptPlace(
            session.id, session.address, self.clock() + self.grace_s, session.last_status, session.since
        )
        let_go: list[str] = []
        same_address = [t for t, p in self.kept.items() if p.address == session.address]
        for token in same_address[: max(0, len(same_address) - self.max_kept_per_address)]:
            let_go.append(self.kept.pop(token).visitor_id)
        while len(self.kept) > self.max_kept:
            let_go.append(self.kept.popitem(last=False)[1].visitor_id)
        if let_go:
            log.info(
                "%d kept place(s) given up to make room (at most %d per address, %d in all)",
                len(let_go),
                self.max_kept_per_address,
                self.max_kept,
            )
        return let_go

    def heard(self, session: Session) -> None:
        """The visitor said something."""
        session.last_activity = self.clock()

    def newcomer(self, session: Session) -> bool:
        """True for the first ``settle_s`` seconds after the visitor connected."""
        return self.clock() - session.since < self.settle_s

    def idle_for(self, session: Session) -> float:
        """Seconds since anything was said either way; 0 while the visitor's prompt waits for its turn."""
        return 0.0 if session.waiting_for else self.clock() - session.last_activity

    # -- messages to the visitor -----------------------------------------------------------------------
    def outgoing(self, session: Session, message: dict[str, Any], pushed: bool = False) -> dict[str, Any]:
        """Note a message about to be sent to ``session`` and return it as it should go out (a ``queued``
        carries the resume token). ``pushed``: the Director sent it on its own (not a reply)."""
        kind, prompt_id = message.get("type"), message.get("id")
        if kind == "queued":
            if isinstance(prompt_id, str) and prompt_id not in session.shown:
                session.waiting_for = prompt_id  # a newer prompt replaces the visitor's pending one
            message = {**message, "resume": session.token}
        elif pushed and kind == "showing" and isinstance(prompt_id, str):
            session.shown.append(prompt_id)
            if session.waiting_for == prompt_id:
                session.waiting_for = None
        elif pushed and kind == "rejected":  # the Director dropped the pending prompt (it waited too long)
            session.waiting_for = None
        if kind == "queued" or (pushed and kind in STATUS_TYPES):  # news of the waiting prompt
            session.last_status = message
        session.last_activity = self.clock()
        return message

    def overhear(self, visitor_id: str, message: dict[str, Any]) -> None:
        """What the Director tells a visitor who is away: the newest status is kept for their return."""
        if message.get("type") not in STATUS_TYPES:
            return
        for place in self.kept.values():
            if place.visitor_id == visitor_id:
                place.last = message
                return

    # -- coming back -----------------------------------------------------------------------------------
    def resume(self, session: Session, token: str) -> KeptPlace | None:
        """Give ``session`` the kept place with ``token``: it takes the place's visitor id (and keeps its own
        new token). None, changing nothing, for an unknown, used or expired token, or a session that already
        has a prompt waiting. The caller moves the Director's subscription from the old id to the new."""
        place = self.kept.get(token)
        if place is None or session.waiting_for or place.visitor_id in self.connected:
            return None
        if self.clock() >= place.deadline:  # expired, even if the timer has not run yet
            return None
        del self.kept[token]
        self.connected.pop(session.id, None)
        session.id = place.visitor_id
        session.since = min(session.since, place.since)
        self.connected[session.id] = session
        return place

    def expire(self) -> list[str]:
        """Withdraw the places whose grace period is over; returns their visitor ids (for the Director)."""
        now = self.clock()
        gone = [t for t, p in self.kept.items() if now >= p.deadline]
        return [self.kept.pop(t).visitor_id for t in gone]

    def withdraw_all(self) -> list[str]:
        """The server stops: every kept place is withdrawn; returns their visitor ids."""
        ids = [p.visitor_id for p in self.kept.values()]
        self.kept.clear()
        return ids

    def next_deadline(self) -> float | None:
        """The clock time when the next kept place expires, or None."""
        return min((p.deadline for p in self.kept.values()), default=None)
