"""The operator's controls on a cluster hub with zones: one ``ShowControl`` per zone behind one panel.

Commands that change what a room shows take an optional ``"zone"``: ``{"cmd": "blackout", "on": true,
"zone": "room-2"}`` blacks out room 2 only; without a zone the command acts on every zone (the whole
show). Those commands: skip, pin, strength, transition, blackout, freeze, source, snapshot. ``remove``
without a zone finds the prompt in whichever zone's queue holds it (each zone numbers its own prompts, so
an id waiting in two zones needs the zone). The rest (block and unblock: the moderator is
show-wide; stream viewers, warping) go to the default zone's control, which holds them for the show.

``state()`` is the default zone's panel state plus ``zones``: per zone its label, mode, queue length,
prompt, flags and the names of its render nodes, so the panel can group the nodes by zone. Like
``ShowControl`` it runs on the server's thread and never raises from ``apply``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from installation.control.show_control import ShowControl

log = logging.getLogger(__name__)

ZONED = ("skip", "pin", "strength", "transition", "blackout", "freeze", "source", "snapshot")


class ZoneControl:
    """See the module docstring. ``controls`` in ``bus.zones`` order: the first is the default zone."""

    def __init__(self, controls: Mapping[str, ShowControl], labels: Callable[[str], str] | None = None) -> None:
        # labels: what a zone shows now, in words (the hub's state label for the zone)
        if not controls:
            raise ValueError("ZoneControl needs at least one zone")
        self.controls = dict(controls)
        self.default = next(iter(self.controls))
        self.labels = labels or (lambda zone: "")

    @property
    def main(self) -> ShowControl:
        return self.controls[self.default]

    @property
    def commands(self) -> tuple[str, ...]:
        return self.main.commands

    def preview_jpeg(self, width: int = 320, quality: int = 75) -> bytes | None:
        return self.main.preview_jpeg(width, quality)

    def node_preview_jpeg(self, name: str) -> bytes | None:
        return self.main.node_preview_jpeg(name)

    # -- reading -------------------------------------------------------------------------------------------
    def state(self) -> dict:
        state = self.main.state()
        nodes = state.get("nodes") or []
        zones = []
        for name, control in self.controls.items():
            d = control.director
            current = getattr(d, "current", None)
            flags = control._read("the blackout and freeze flags", control.loop.flags, {}) if control.loop.flags else {}
            zones.append(
                {
                    "name": name,
                    "label": self.labels(name),
                    "mode": getattr(d, "mode", ""),
                    "queue_length": len(d.queue),
                    "queue": [{"id": p.id, "text": p.text} for p in d.queue.pending()],
                    "prompt": current.text if current is not None and getattr(d, "mode", "") == "prompt" else None,
                    "pinned": control.pinned,
                    "blackout": bool(flags.get("blackout", False)),
                    "frozen": bool(flags.get("frozen", False)),
                    "nodes": [n["name"] for n in nodes if n.get("zone") == name],
                }
            )
        state["zones"] = zones
        return state

    # -- acting --------------------------------------------------------------------------------------------
    def apply(self, command: Any) -> dict:
        if not isinstance(command, dict):
            return self.main.apply(command)
        if "zone" in command:
            zone = command["zone"]
            if zone is None:  # an explicit null: every zone, as without the key
                command = {k: v for k, v in command.items() if k != "zone"}
            elif not isinstance(zone, str) or zone not in self.controls:
                return {"ok": False, "error": f"'zone' must be one of {', '.join(self.controls)} or null"}
            else:
                reply = self.controls[zone].apply({k: v for k, v in command.items() if k != "zone"})
                return {**reply, "zone": zone} if reply.get("ok") else reply
        name = command.get("cmd")
        if name in ZONED:
            replies = {zone: control.apply(command) for zone, control in self.controls.items()}
            failed = [(zone, r) for zone, r in replies.items() if not r.get("ok")]
            if failed:
                zone, reply = failed[0]
                return {**reply, "error": f"{zone}: {reply.get('error')}"}
            return {**replies[self.default], "zones": list(self.controls)}
        if name == "remove":  # each zone numbers its own queue: the id is enough when one zone has it
            prompt_id = command.get("id")
            holding = [
                z for z, c in self.controls.items() if any(p.id == prompt_id for p in c.director.queue.pending())
            ]
            if len(holding) > 1:
                return {"ok": False, "error": f"prompt {prompt_id} waits in {' and '.join(holding)}: name the zone"}
            return self.controls[holding[0] if holding else self.default].apply(command)
        return self.main.apply(command)
