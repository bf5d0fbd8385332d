"""The operator's controls, without sockets: what the panel shows and what its buttons do.

``ShowControl`` reads the show (stats, the Director's prompt and queue, the target mix, recent
warnings, the picture on screen) through a ``LoopView`` and the Director, and turns operator commands
into frame-loop events (``LoopView.post``) and calls on the Director and its Moderator. It never
touches loop state itself, and it runs on the Director's thread (the server's asyncio loop).
Commands are JSON objects (see docs/operator.md)::

    {"cmd": "skip"}                        end the current prompt's turn
    {"cmd": "remove", "id": "p7"}          take a waiting prompt out of the queue
    {"cmd": "block", "phrase": "..."}      decline prompts with this phrase from now on
    {"cmd": "unblock", "phrase": "..."}
    {"cmd": "pin", "style": "ink"}         hold one style; {"style": null} lets go
    {"cmd": "strength", "value": 0.6}      0 = camera picture .. 1 = fully stylised
    {"cmd": "transition", "seconds": 4}    glide time for later changes
    {"cmd": "blackout", "on": true}
    {"cmd": "freeze", "on": true}
    {"cmd": "snapshot"}                    save the picture on screen as a PNG
    {"cmd": "source", "name": "generator"} crossfade to another source of the show ("live" = the camera)
    {"cmd": "warp", "output": 2, "mode": "mesh", "point": 12, "by": [0.01, 0]}  nudge a projector's point
    {"cmd": "warp", "output": 2, "mode": "mesh", "point": 12, "to": [0.5, 0.4]} put it there (a drag)
    {"cmd": "warp_save"}                   write every projector's corners and mesh into the show's file
    {"cmd": "pattern", "on": true}         the test pattern on every projector instead of the show

``apply(command)`` answers ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}`` and never
raises. ``handle_message`` does the same for one raw websocket message. The state never carries
visitor ids or addresses.

Pinning: ``ShowControl.pinned`` is the pinned style's name (or None). The Director is expected to
leave the target alone while it is set; this module only posts the pinned style and keeps the flag.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.events import (
    Blackout,
    Event,
    Freeze,
    SelectSource,
    SetStrength,
    SetTransition,
    ShowStill,
    Snapshot,
    TargetChanged,
)
from engine.style import StyleMix
from installation.control.warning_log import WarningLog

log = logging.getLogger(__name__)

__all__ = ["CommandError", "LoopView", "ShowControl", "WarningLog", "handle_message"]

MAX_PHRASE_CHARS = 100
MAX_TRANSITION_S = 600.0
MAX_GLIDE_S = 60.0
DEFAULT_STRENGTH_GLIDE_S = 0.5  # a slider should follow the hand, not the show's slow transition
MAX_REF_CHARS = 64
MAX_REF_NUMBER = 2**53  # a panel's numeric ref must survive a round trip through a JavaScript number
PREVIEW_WIDTHS = (16, 1920)


@dataclass(frozen=True)
class LoopView:
    """What the operator panel may read from the frame loop, and its one way of changing it: ``post``.

    Every reader is called on the server's thread and only reads (the loop's own attributes are
    replaced whole, never edited in place); ``LoopView.of(loop)`` builds it from a ``FrameLoop``.
    """

    post: Callable[[Event], bool]  # FrameLoop.post: False when the loop's event queue is full
    stats: Callable[[], dict]  # the loop's stats snapshot
    target: Callable[[], StyleMix]  # where the picture is going (or is)
    on_screen: Callable[[], np.ndarray | None]  # the picture on screen, RGB uint8, None before the first
    flags: Callable[[], dict] | None = None  # {"blackout": bool, "frozen": bool} as the loop has them
    sources: tuple[str, ...] = ()  # the names the show's source switch knows ("live", "generator"); () = no switch
    selected_source: Callable[[], str | None] | None = None  # which of them the switch shows now
    source_labels: Callable[[], dict[str, str]] | None = None  # what each of them is now, in words

    @classmethod
    def of(cls, loop: Any) -> LoopView:
        """The view of a running ``FrameLoop`` (and its source switch, if the show has one)."""
        from engine.sources.base import find_first
        from engine.sources.crossfade import SwitchSource

        switch = find_first(loop.source, SwitchSource)
        inputs: dict[str, Any] = dict(switch.inputs) if switch is not None else {}
        return cls(
            post=loop.post,
            stats=loop.stats.snapshot,
            target=lambda: loop.target,
            on_screen=lambda: loop.on_screen,
            flags=lambda: {"blackout": loop.blackout, "frozen": loop.frozen},
            sources=tuple(inputs),
            selected_source=(lambda: switch.selected) if switch is not None else None,
            source_labels=(lambda: {name: source_label(name, src) for name, src in inputs.items()}) if inputs else None,
        )


def source_label(name: str, source: Any) -> str:
    """What one input of the show's switch is, for the panel: "Live camera" only when it is a camera that
    works now; the built-in pattern or a video says so; a camera that failed says what shows instead."""
    from engine.sources.base import find_first
    from engine.sources.fallback import FallbackSource

    if name == "generator":
        return "Dream (generator)"
    what = str(getattr(source, "name", "") or name)
    fallback = find_first(source, FallbackSource)
    if fallback is not None and fallback.active == "fallback":
        return f"{what} lost: showing {fallback.fallback.name}"
    if what.startswith("camera"):
        return "Live camera" if name == "live" else what
    return f"Live: {what}" if name == "live" else what


def _node_row(node: Any) -> dict:
    """One render node for the panel: name, zone, health (green / late / gone) and how it renders."""
    report = node.report or {}
    return {
        "name": node.name,
        "zone": node.zone,
        "health": node.health,
        "age_s": node.age_s,
        **{key: report.get(key) for key in ("fps", "frame_p99", "errors", "source", "backend", "model", "version")},
    }


class CommandError(ValueError):
    """An operator command that cannot be carried out; its text is shown on the panel."""


def _flag(command: dict, key: str) -> bool:
    value = command.get(key)
    if not isinstance(value, bool):
        raise CommandError(f"'{key}' must be true or false")
    return value


def _optional_number(command: dict, key: str, low: float, high: float) -> float | None:
    return _number(command, key, low, high) if key in command else None


def _number(command: dict, key: str, low: float, high: float) -> float:
    value = command.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value) or not low <= value <= high:
        raise CommandError(f"'{key}' must be a number from {low:g} to {high:g}")
    return float(value)


def _whole(command: dict, key: str, low: int, high: int) -> int:
    value = command.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommandError(f"'{key}' must be a whole number from {low} to {high}")
    return value


def _pair(command: dict, key: str, low: float, high: float, expected: str) -> tuple[float, float]:
    value = command.get(key)
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v) and low <= v <= high for v in value
        )
    ):
        raise CommandError(f"'{key}' must be {expected}")
    return float(value[0]), float(value[1])


def _finite(value: int | float) -> bool:
    """``math.isfinite`` that says False for an int too large for a float instead of raising OverflowError."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _text(command: dict, key: str, max_chars: int) -> str:
    value = command.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"'{key}' must be some text")
    value = " ".join(value.split())
    if len(value) > max_chars:
        raise CommandError(f"'{key}' must be {max_chars} characters or fewer")
    return value


class ShowControl:
    """See the module docstring. Call ``state``/``apply`` from the Director's thread (the server loop)."""

    def __init__(
        self,
        loop: LoopView,
        director: Any,
        style_names: Sequence[str],
        snapshot_dir: str | Path,
        warnings: WarningLog,
        clock: Callable[[], float] = time.monotonic,
        *,
        transition_s: float | None = None,
        streams: Any = None,
        nodes: Callable[[], list[Any]] | None = None,
        node_preview: Callable[[str], bytes | None] | None = None,
    ) -> None:
        # loop: what the panel reads from the frame loop and its one way of changing it (events).
        # director: the Director; its moderator is the one the panel's block list edits.
        # clock: the Director's clock (monotonic), for how long prompts have waited and shown.
        # transition_s: the loop's glide time at start, shown until the operator changes it.
        # streams: the show's stream outputs (engine.sinks.fanout.FanoutSink), listed and closable; None: none.
        self.streams = streams
        # nodes: a cluster hub's render nodes (installation.bus.base.NodeStatus), shown green / late / gone.
        self.nodes = nodes
        self.node_preview = node_preview  # a node's latest small JPEG, by name
        self.loop = loop
        self.director = director
        self.style_names = tuple(style_names)
        self.snapshot_dir = Path(snapshot_dir)
        self.warnings = warnings
        self.clock = clock
        self.pinned: str | None = None
        self.transition_s = transition_s
        self.blackout = False
        self.frozen = False
        self.sources = loop.sources
        self.blocked_here: list[str] = []  # phrases this panel blocked, so it can offer to unblock them
        self._failing: set[str] = set()
        self._snapshot_lock = threading.Lock()
        self._last_snapshot_name = ""
        self._commands: dict[str, Callable[[dict], dict]] = {
            "skip": self._skip,
            "remove": self._remove,
            "block": self._block,
            "unblock": self._unblock,
            "pin": self._pin,
            "strength": self._strength,
            "transition": self._transition,
            "blackout": self._blackout,
            "freeze": self._freeze,
            "snapshot": self._snapshot,
            "source": self._source,
            "close_viewer": self._close_viewer,
            "warp": self._warp,
            "warp_save": self._warp_save,
            "pattern": self._pattern,
        }
        self.pattern_on = False  # the projectors show the calibration test pattern
        self.calibration: Any = None  # installation.calibration.Calibration of the show's projectors, if any
        self.config_path: Path | None = None  # where warp_save writes

    @property
    def moderator(self) -> Any:
        """The Director's moderator now (a config reload may replace it)."""
        return self.director.moderator

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(self._commands)

    # -- reading ---------------------------------------------------------------------------------------
    def _read(self, what: str, read: Callable[[], Any], default: Any) -> Any:
        """One provider's value, or ``default`` (a warning when it starts failing, one when it recovers)."""
        try:
            value = read()
        except Exception as exc:  # someone else's code: the panel keeps showing the rest
            if what not in self._failing:
                self._failing.add(what)
                log.warning("operator panel: %s is not available: %s", what, exc)
            return default
        if what in self._failing:
            self._failing.discard(what)
            log.warning("operator panel: %s is available again", what)
        return value

    def state(self) -> dict:
        """What the panel shows, as a JSON-able dict. No visitor ids, no addresses."""
        now = self.clock()
        d = self.director
        target = self._read("the target mix", self.loop.target, None)
        current = getattr(d, "current", None)
        prompt = None
        if current is not None and getattr(d, "mode", None) == "prompt":
            prompt = {
                "id": current.id,
                "text": current.text,
                "shown_s": round(max(0.0, now - getattr(d, "shown_at", now)), 1),
            }
        pending = self._read("the prompt queue", lambda: d.queue.pending(), [])
        queue = [
            {"id": p.id, "text": p.text, "position": i, "waited_s": round(max(0.0, now - p.t_submitted), 1)}
            for i, p in enumerate(pending, start=1)
        ]
        stats = self._read("the frame loop's stats", self.loop.stats, {})
        flags = self._read("the blackout and freeze flags", self.loop.flags, {}) if self.loop.flags else {}
        return {
            "stats": stats,
            "mode": getattr(d, "mode", ""),
            "prompt": prompt,
            "queue": queue,
            "styles": list(self.style_names),
            "mix": target.named(list(self.style_names)) if target is not None else {},
            "strength": round(target.strength, 3) if target is not None else None,
            "warmth": round(target.warmth, 3) if target is not None else None,
            "transition_s": self.transition_s,
            "pinned": self.pinned,
            "blackout": bool(flags.get("blackout", self.blackout)),
            "frozen": bool(flags.get("frozen", self.frozen)),
            "sources": list(self.sources),
            "selected_source": self._read("the selected source", self.loop.selected_source, None)
            if self.loop.selected_source
            else None,
            "source_labels": self._read("the sources' names", self.loop.source_labels, {})
            if self.loop.source_labels
            else {},
            "source": stats.get("source") if isinstance(stats, dict) else None,
            "blocked_here": list(self.blocked_here),
            "warnings": self.warnings.recent(20),
            "streams": self._read("the stream viewers", self._streams_state, None) if self.streams else None,
            "nodes": [_node_row(n) for n in self._read("the render nodes", self.nodes, [])] if self.nodes else [],
            "projectors": self._projectors_state(),
        }

    def _projectors_state(self) -> dict | None:
        """The projectors' corners and mesh for the calibration page; None in a show without projector windows."""
        if self.calibration is None:
            return None
        return {**self.calibration.describe(), "pattern": self.pattern_on, "can_save": self.config_path is not None}

    def _streams_state(self) -> dict:
        """Per output its stats, and every stream viewer (kind, output, client name, how long, drops)."""
        now = self.streams.clock()
        viewers = [
            {
                "id": v.id,
                "kind": v.kind,
                "output": v.output,
                "peer": v.peer,
                "watching_s": round(max(0.0, now - v.since), 1),
                "frames": v.frames,
                "dropped": v.dropped,
            }
            for v in self.streams.viewers()
        ]
        return {"outputs": self.streams.stats(), "viewers": viewers, "max_viewers": self.streams.max_viewers}

    def preview_jpeg(self, width: int = 320, quality: int = 75, output: int | None = None) -> bytes | None:
        """The picture on screen, ``width`` pixels wide, as JPEG bytes; None before the first frame. ``output``
        (1, 2, ...): only the region of the picture that projector shows (CommandError: no such projector)."""
        import cv2  # imported here: only the preview needs it

        frame = self._read("the preview picture", self.loop.on_screen, None)
        if frame is None:
            return None
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or min(frame.shape[:2]) < 1:
            log.debug("preview: expected an RGB uint8 picture, got %s %s", frame.shape, frame.dtype)
            return None
        if output is not None:
            frame = self._region_of(frame, output)
        width = int(min(max(width, PREVIEW_WIDTHS[0]), PREVIEW_WIDTHS[1]))
        h, w = frame.shape[:2]
        if w != width:
            height = max(1, round(h * width / w))
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_LINEAR)
        ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        return buffer.tobytes() if ok else None

    def _region_of(self, frame: np.ndarray, output: int) -> np.ndarray:
        """The part of ``frame`` (the picture on screen, at the canvas's size or scaled) projector ``output`` shows."""
        cal = self.calibration
        if cal is None or not 1 <= output <= len(cal.regions):
            count = 0 if cal is None else len(cal.regions)
            raise CommandError(
                f"'output' must be a projector from 1 to {count}" if count else "this show has no projectors"
            )
        x, y, w, h = cal.regions[output - 1]
        sx, sy = frame.shape[1] / cal.canvas[0], frame.shape[0] / cal.canvas[1]
        x0, y0 = int(round(x * sx)), int(round(y * sy))
        x1, y1 = max(x0 + 1, int(round((x + w) * sx))), max(y0 + 1, int(round((y + h) * sy)))
        return np.ascontiguousarray(frame[y0:y1, x0:x1])

    def node_preview_jpeg(self, name: str) -> bytes | None:
        """A cluster node's latest preview JPEG (as it sent it); None without one."""
        if self.node_preview is None:
            return None
        return self._read("the render nodes' previews", lambda: self.node_preview(name), None)  # type: ignore[misc]

    # -- acting ----------------------------------------------------------------------------------------
    def apply(self, command: Any) -> dict:
        """Carry out one command; ``{"ok": True, "cmd": ..., ...}`` or ``{"ok": False, "error": ...}``."""
        if not isinstance(command, dict):
            return {"ok": False, "error": 'a command is a JSON object like {"cmd": "skip"}'}
        name = command.get("cmd")
        act = self._commands.get(name) if isinstance(name, str) else None
        if act is None:
            return {"ok": False, "error": f"unknown command; expected one of {', '.join(self._commands)}"}
        try:
            return {"ok": True, "cmd": name, **act(command)}
        except CommandError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception:  # the panel is a task boundary too: say so, keep the show going
            log.exception("operator command %r failed", name)
            return {"ok": False, "error": "that did not work; see the log"}

    def _post(self, event: Event) -> None:
        if self.loop.post(event) is False:
            raise CommandError("the frame loop is busy; try again")

    def _close_viewer(self, command: dict) -> dict:
        viewer_id = _text(command, "id", MAX_REF_CHARS)
        if self.streams is None or not self.streams.close_viewer(viewer_id, "closed by the operator"):
            raise CommandError(f"no stream viewer {viewer_id} is watching")
        log.info("operator: closed stream viewer %s", viewer_id)
        return {"id": viewer_id}

    def _warp(self, command: dict) -> dict:
        """Move one corner or mesh point of one projector by ``by`` (0..1 of its picture), live."""
        from engine.events import SetWarp

        cal = self.calibration
        if cal is None:
            raise CommandError("this show has no projector windows to warp")
        index = _whole(command, "output", 1, len(cal.outputs)) - 1  # projectors are numbered from 1
        mode = command.get("mode", "mesh")
        if mode not in ("mesh", "corners"):
            raise CommandError('\'mode\' must be "mesh" or "corners"')
        point = _whole(command, "point", 0, len(cal.outputs[index].points(mode)) - 1)
        if "to" in command:  # a drag: where the point is now
            to = _pair(command, "to", -0.5, 1.5, "[x, y], each from -0.5 to 1.5 of the picture")
        else:
            by = _pair(command, "by", -0.1, 0.1, "[dx, dy], each from -0.1 to 0.1 of the picture")
        cal.select_output(index)
        if cal.mode != mode:
            cal.toggle_mode()
        cal.point = point
        before = list(cal.current.points(mode)[point])
        if "to" in command:
            cal.place(*to)
        else:
            cal.move(*by)
        keystone, mesh = cal.keystone_of(index), cal.mesh_of(index)
        try:
            self._post(
                SetWarp(
                    index,
                    tuple(tuple(p) for p in keystone) if keystone else None,
                    tuple(tuple(tuple(p) for p in row) for row in mesh) if mesh else None,
                )
            )
        except CommandError:  # the window did not move: neither does the point
            cal.place(*before)
            raise
        at = cal.current.points(mode)[cal.point]
        if self.pattern_on:  # the marks on the pattern follow the selected point (if the queue is full: next time)
            self.loop.post(ShowStill(cal.test_pattern()))
        log.info("operator: projector %d %s point %d moved to %s", index + 1, mode, cal.point, at)
        return {"output": index + 1, "mode": mode, "point": cal.point, "at": list(at)}

    def _pattern(self, command: dict) -> dict:
        """The calibration test pattern on every projector (and stream) instead of the show, or the show back."""
        on = _flag(command, "on")
        if on and self.calibration is None:
            raise CommandError("this show has no projector windows to calibrate")
        self._post(ShowStill(self.calibration.test_pattern() if on else None))
        self.pattern_on = on
        log.info("operator: test pattern %s", "on" if on else "off")
        return {"on": on}

    def _warp_save(self, command: dict) -> dict:
        """Write the projectors' corners and mesh into the show's config file (a .bak beside it)."""
        from installation.calibration import save_calibration

        if self.calibration is None or self.config_path is None:
            raise CommandError("this show has no projector windows or no config file to save into")
        try:
            backup = save_calibration(self.config_path, self.calibration)
        except (ConfigError, OSError) as exc:
            raise CommandError(f"not saved: {exc}") from None
        return {"saved": str(self.config_path), "backup": str(backup)}

    def _skip(self, command: dict) -> dict:
        self.director.skip()
        log.info("operator: skipped the current prompt")
        return {}

    def _remove(self, command: dict) -> dict:
        prompt_id = _text(command, "id", MAX_REF_CHARS)
        if not self.director.remove(prompt_id):
            raise CommandError(f"no prompt {prompt_id} is waiting")
        log.info("operator: removed prompt %s from the queue", prompt_id)
        return {"id": prompt_id}

    def _block(self, command: dict) -> dict:
        phrase = _text(command, "phrase", MAX_PHRASE_CHARS)
        try:
            added = self.moderator.add_phrase(phrase)
        except ConfigError as exc:  # a phrase with no letters
            raise CommandError(str(exc)) from None
        if added:
            self.blocked_here.append(phrase)
        log.info("operator: %s a phrase on the block list", "put" if added else "found")
        return {"added": added}

    def _unblock(self, command: dict) -> dict:
        phrase = _text(command, "phrase", MAX_PHRASE_CHARS)
        removed = self.moderator.remove_phrase(phrase)
        key = phrase.casefold()
        self.blocked_here = [p for p in self.blocked_here if p.casefold() != key]
        if not removed:
            raise CommandError("that phrase is not on the block list")
        log.info("operator: took a phrase off the block list")
        return {"removed": True}

    def _pin(self, command: dict) -> dict:
        if "style" not in command:
            raise CommandError("'style' must be a style name or null")
        style = command["style"]
        if style is None:
            if self.pinned is not None:
                log.info("operator: unpinned %s", self.pinned)
            self.pinned = None
            return {"style": None}
        if not isinstance(style, str) or style not in self.style_names:
            raise CommandError(f"'style' must be one of {', '.join(self.style_names)} or null")
        target = self.loop.target()
        mix = StyleMix.single(len(self.style_names), self.style_names.index(style), target.strength, target.warmth)
        self._post(TargetChanged(mix, label=f"pinned: {style}"))
        self.pinned = style
        log.info("operator: pinned %s", style)
        return {"style": style}

    def _strength(self, command: dict) -> dict:
        value = _number(command, "value", 0.0, 1.0)
        seconds = _optional_number(command, "seconds", 0.0, MAX_GLIDE_S)
        self._post(SetStrength(value, DEFAULT_STRENGTH_GLIDE_S if seconds is None else seconds))
        self.director.base_strength = value  # the next prompts keep the operator's strength
        log.info("operator: strength %.2f", value)
        return {"value": value}

    def _transition(self, command: dict) -> dict:
        seconds = _number(command, "seconds", 0.0, MAX_TRANSITION_S)
        self._post(SetTransition(seconds))
        self.transition_s = seconds
        log.info("operator: transitions take %.1f s", seconds)
        return {"seconds": seconds}

    def _blackout(self, command: dict) -> dict:
        on = _flag(command, "on")
        self._post(Blackout(on))
        self.blackout = on
        log.info("operator: blackout %s", "on" if on else "off")
        return {"on": on}

    def _freeze(self, command: dict) -> dict:
        on = _flag(command, "on")
        self._post(Freeze(on))
        self.frozen = on
        log.info("operator: freeze %s", "on" if on else "off")
        return {"on": on}

    def _source(self, command: dict) -> dict:
        if not self.sources:
            raise CommandError("this show has one source; set attract.source: generator in its config for a second")
        name = command.get("name")
        if not isinstance(name, str) or name not in self.sources:
            raise CommandError(f"'name' must be one of {', '.join(self.sources)}")
        self._post(SelectSource(name))
        log.info("operator: showing the %s source", name)
        return {"name": name}

    def _snapshot(self, command: dict) -> dict:
        path = self._snapshot_path()
        self._post(Snapshot(path))
        log.info("operator: snapshot to %s", path)
        return {"path": str(path)}

    def _snapshot_path(self) -> Path:
        """``snapshot_dir/laterna-YYYYmmdd-HHMMSS-mmm.png``, never the same name twice in a row."""
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        with self._snapshot_lock:
            name, n = f"laterna-{stamp}", 1
            while name == self._last_snapshot_name or (self.snapshot_dir / f"{name}.png").exists():
                n += 1
                name = f"laterna-{stamp}-{n}"
            self._last_snapshot_name = name
        return self.snapshot_dir / f"{name}.png"


def handle_message(control: ShowControl, data: str | bytes) -> dict:
    """One operator websocket message -> the reply to send: ``{"type": "result", "ref": ..., "ok": ...}``.

    ``ref`` (a string or number of the operator's choosing) is echoed so a panel can match replies.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return {"type": "result", "ok": False, "error": "send commands as JSON text"}
    try:
        command = json.loads(data)
    except (ValueError, RecursionError):
        return {"type": "result", "ok": False, "error": "that was not JSON"}
    reply: dict = {"type": "result"}
    if isinstance(command, dict):
        ref = command.get("ref")
        if (isinstance(ref, str) and len(ref) <= MAX_REF_CHARS) or (
            isinstance(ref, (int, float)) and not isinstance(ref, bool) and _finite(ref) and abs(ref) <= MAX_REF_NUMBER
        ):
            reply["ref"] = ref
    reply.update(control.apply(command))
    return reply
