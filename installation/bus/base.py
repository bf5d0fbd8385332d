"""The ``Bus`` interface: the one place between the hub's code (Director, operator controls, OSC) and the
frame loops. The hub side calls ``post(event)`` where it called ``loop.post`` before; a render node's bus
posts the hub's decisions into its own loop. Nothing here waits for the network on the caller's thread."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from engine.events import Event
from installation.bus.state import ShowState


@dataclass(frozen=True)
class NodeStatus:
    """One render node as the hub sees it: ``health`` is "green", "late" or "gone"."""

    name: str
    health: str
    zone: str = ""
    age_s: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)  # the node's last heartbeat (fps, p99, errors, ...)


class Bus(ABC):
    """See the module docstring. ``start``/``stop`` bracket its threads; ``stop`` is idempotent."""

    @abstractmethod
    def post(self, event: Event, zone: str | None = None) -> bool:
        """(any thread) Send one decision to the frame loops of ``zone`` (None: every loop of the show);
        False if it could not be queued."""

    def start(self) -> None:
        """Start the bus's own thread, if it has one."""

    def stop(self) -> None:
        """Stop it (idempotent)."""

    @property
    def state(self) -> ShowState | None:
        """The hub's full state (None where the frame loop itself holds it: the in-process bus)."""
        return None

    def nodes(self) -> list[NodeStatus]:
        """Every render node the hub has heard of (none on the in-process bus: the show is this process)."""
        return []

    def preview(self, node: str) -> bytes | None:
        """A node's latest small preview JPEG, if it sent one."""
        return None

    def status(self) -> dict[str, Any]:
        """What the operator panel and ``/healthz`` say about the bus."""
        return {"kind": "in-process"}
