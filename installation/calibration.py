"""Projector calibration: a test pattern on every output, corners and mesh points moved by keyboard or
mouse, the result saved into the show's YAML (atomically, the old file kept as ``NAME.bak``).

``Calibration`` is the state without a window (which output, which point, where the points are);
``save_calibration`` edits only the ``keystone`` and ``mesh`` keys of each output, keeping the rest of
the file and its comments (ruamel.yaml round trip); ``run_calibration`` is the window loop behind
``laterna calibrate``.

Keys: Tab next projector · m corners / mesh · arrows move the point (Shift: 10x) · n / p next / previous
point · + / - a finer / coarser mesh (5x5 up to 9x9, reset) · r reset this projector · s save · Esc quit.
Mouse: click a point to select it, drag it to move it.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np

from engine.atomic_file import write_atomic
from engine.errors import ConfigError
from engine.frame import Frame
from engine.sinks.keystone import IDENTITY
from engine.sinks.mesh import identity_grid
from installation.show_settings import DisplaySettings

if TYPE_CHECKING:
    from engine.sinks.window import ProjectorSink

log = logging.getLogger(__name__)

STEP = 0.002  # a key press moves a point this much of the picture (Shift: 10x)


@dataclass
class OutputCalibration:
    """One projector's corners and mesh, as the config holds them (0..1)."""

    corners: list[list[float]] = field(default_factory=lambda: [list(p) for p in IDENTITY])
    mesh: list[list[list[float]]] = field(default_factory=list)

    def points(self, mode: str) -> list[list[float]]:
        return self.corners if mode == "corners" else [p for row in self.mesh for p in row]


class Calibration:
    """Which projector and point are selected, and every projector's corners and mesh."""

    def __init__(self, display: DisplaySettings, mesh_size: int = 5) -> None:
        cw, ch = self.canvas = display.canvas_size
        self.regions = [
            cast("tuple[int, int, int, int]", tuple(o.region) or (0, 0, cw, ch)) for o in display.all_outputs
        ]
        # each window's size (0: its display's, unknown here: the region's, which has its aspect ratio)
        self.sizes = [(o.width or r[2], o.height or r[3]) for o, r in zip(display.all_outputs, self.regions)]
        self._pattern: np.ndarray | None = None
        self.outputs = []
        for out in display.all_outputs:
            cal = OutputCalibration()
            if out.keystone:
                cal.corners = [list(map(float, p)) for p in out.keystone]
            cal.mesh = [[list(map(float, p)) for p in row] for row in out.mesh] or identity_grid(
                mesh_size, mesh_size
            ).tolist()
            self.outputs.append(cal)
        self.output = 0
        self.mode = "mesh"
        self.point = 0

    @property
    def current(self) -> OutputCalibration:
        return self.outputs[self.output]

    def select_output(self, index: int) -> None:
        self.output = index % len(self.outputs)
        self.point = 0

    def toggle_mode(self) -> None:
        self.mode = "corners" if self.mode == "mesh" else "mesh"
        self.point = 0

    def step_point(self, by: int) -> None:
        self.point = (self.point + by) % len(self.current.points(self.mode))

    def move(self, dx: float, dy: float) -> None:
        """Move the selected point by (dx, dy) in 0..1 of the picture (kept within -0.5..1.5)."""
        p = self.current.points(self.mode)[self.point]
        p[0] = round(min(max(p[0] + dx, -0.5), 1.5), 4)
        p[1] = round(min(max(p[1] + dy, -0.5), 1.5), 4)

    def place(self, x: float, y: float) -> None:
        p = self.current.points(self.mode)[self.point]
        p[0], p[1] = round(x, 4), round(y, 4)

    def nearest(self, x: float, y: float) -> None:
        """Select the point of the current projector nearest (x, y)."""
        points = np.asarray(self.current.points(self.mode), dtype=np.float64)
        self.point = int(np.argmin(np.hypot(points[:, 0] - x, points[:, 1] - y)))

    def resize_mesh(self, size: int) -> None:
        """A regular ``size`` x ``size`` mesh for the current projector (its points start over)."""
        self.current.mesh = identity_grid(size, size).tolist()
        self.point = 0

    def reset(self) -> None:
        self.outputs[self.output] = OutputCalibration(mesh=identity_grid(*np.shape(self.current.mesh)[:2]).tolist())
        self.point = 0

    def keystone_of(self, index: int) -> list[list[float]] | None:
        corners = self.outputs[index].corners
        return None if np.allclose(corners, IDENTITY) else corners

    def mesh_of(self, index: int) -> list[list[list[float]]] | None:
        mesh = self.outputs[index].mesh
        return None if np.allclose(mesh, identity_grid(*np.shape(mesh)[:2])) else mesh

    def test_pattern(self) -> np.ndarray:
        """The canvas-sized test pattern, the selected projector's points marked on it (see ``_with_points``)."""
        if self._pattern is None:
            self._pattern = calibration_pattern(*self.canvas, self.regions)
        return _with_points(self._pattern, self, self.output, self.regions[self.output])

    def describe(self) -> dict[str, Any]:
        """Every projector's window size, region, corners and mesh, and what is selected (JSON-able)."""
        return {
            "outputs": [
                {
                    "number": i + 1,
                    "size": list(self.sizes[i]),
                    "region": list(self.regions[i]),
                    "corners": [list(p) for p in out.corners],
                    "mesh": [[list(p) for p in row] for row in out.mesh],
                }
                for i, out in enumerate(self.outputs)
            ],
            "selected": {"output": self.output + 1, "mode": self.mode, "point": self.point},
        }


# -- saving ----------------------------------------------------------------------------------------
def _yaml(text: str) -> Any:
    """A round-trip YAML (comments, order and quoting stay) that indents lists as ``text`` does."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    m = re.search(r"^( *)[^\s#][^:\n]*:[ \t]*(?:#.*)?\n( *)- ", text, re.MULTILINE)
    offset = max(0, len(m.group(2)) - len(m.group(1))) if m else 0
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def _flow(rows: Any) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    def seq(items: list[Any]) -> CommentedSeq:
        s = CommentedSeq(items)
        s.fa.set_flow_style()
        return s

    if rows and isinstance(rows[0][0], list):  # a mesh: one row per line, each point [x, y]
        out = CommentedSeq([seq([seq(list(p)) for p in row]) for row in rows])
        out.fa.set_block_style()
        return out
    return seq([seq(list(p)) for p in rows])


def save_calibration(path: str | Path, calibration: Calibration) -> Path:
    """Write every projector's corners and mesh into the config at ``path``, atomically, after copying
    the file as it was to ``path`` + ``.bak``; the rest of the file (comments included) is kept. A
    projector at the identity has its ``keystone`` / ``mesh`` keys removed. Returns the backup's path."""
    target = Path(path)
    original = target.read_bytes()
    yaml = _yaml(original.decode("utf-8"))
    data = yaml.load(original.decode("utf-8"))
    if data is None or not isinstance(data, dict):
        raise ConfigError(f"{target}: expected a mapping at the top level")
    display = data.get("display")
    if display is None:
        display = data["display"] = {}
    if isinstance(display, list):
        sections = list(display)
    else:
        sections = [display, *display.get("outputs", [])]
    if len(sections) != len(calibration.outputs):
        raise ConfigError(
            f"{target}: the file now has {len(sections)} display output(s), the calibration "
            f"{len(calibration.outputs)}; not saved"
        )
    for i, section in enumerate(sections):
        for key, value in (("keystone", calibration.keystone_of(i)), ("mesh", calibration.mesh_of(i))):
            if value is None:
                section.pop(key, None)
            elif key not in section or _plain(section[key]) != value:
                section[key] = _flow(value)
    from io import StringIO

    text = StringIO()
    yaml.dump(data, text)
    backup = target.with_name(target.name + ".bak")
    write_atomic(backup, original)  # never replaced without the copy beside it
    write_atomic(target, text.getvalue())
    log.info("calibration saved to %s (the previous file is %s)", target, backup)
    return backup


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


# -- the test pattern ------------------------------------------------------------------------------
def calibration_pattern(width: int, height: int, regions: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Grid, colour bars, a grey field (where the blend ramps show) and each projector's number."""
    img = np.full((height, width, 3), 128, np.uint8)
    bars = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255)]
    bar_w = max(1, width // len(bars))
    top, bottom = int(height * 0.72), int(height * 0.85)
    for i, colour in enumerate(bars):
        img[top:bottom, i * bar_w : (i + 1) * bar_w] = colour
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    img[bottom:, :] = ramp[None, :, None]
    step = max(8, min(width, height) // 12)
    img[::step, :] = 255
    img[:, ::step] = 255
    img[-1, :] = img[:, -1] = 255
    mask = np.zeros((height, width), np.uint8)  # the numbers, white with a black edge on any background
    for i, (x, y, w, h) in enumerate(regions):
        scale = max(1.0, h / 120)
        origin = (x + w // 2 - int(14 * scale), y + h // 2)
        cv2.putText(mask, str(i + 1), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, max(2, round(2 * scale)))
    edge = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    img[edge > 0] = 0
    img[mask > 0] = 255
    return img


# -- the window loop -------------------------------------------------------------------------------
def run_calibration(
    config: str | Path, max_frames: int | None = None, mesh_size: int = 5
) -> tuple[Calibration, list[Any]]:
    """Show the test pattern on every projector the config names and let the technician move points;
    ``s`` saves into the config. Returns the calibration and the (closed) windows when done."""
    import pygame

    from installation.config.schema import load_config
    from installation.show import projector_sinks

    cfg = load_config(config)
    display = cfg.display
    cal = Calibration(display, mesh_size)
    sinks = cast("list[ProjectorSink]", projector_sinks(display))
    regions = cal.regions
    pattern = calibration_pattern(*cal.canvas, regions)
    for sink in sinks:
        sink.hide_cursor = False
        sink.draws_overlays = True  # every projector says which it is
        sink.open()
    for i, sink in enumerate(sinks):
        sink.set_keystone(cal.keystone_of(i))
        sink.set_mesh(cal.mesh_of(i))
    window_ids: dict[int, int] = {}
    for i, sink in enumerate(sinks):
        window = sink._window
        if window is None:
            from pygame._sdl2.video import Window

            window = Window.from_display_module()
        window_ids[window.id] = i
    dragging = False
    hover = 0  # the projector window under the mouse pointer
    frames = 0
    try:
        running = True
        while running and (max_frames is None or frames < max_frames):
            changed = False
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                    running = False
                elif event.type == pygame.KEYDOWN:
                    changed |= _key(cal, event, config)
                elif event.type in (pygame.WINDOWENTER, pygame.WINDOWFOCUSGAINED):
                    # Which window the pointer is over: pygame 2.6 gives a separate window's Window object
                    # here and None for the display window (the `window` of mouse events is unreliable).
                    window = getattr(event, "window", None)
                    hover = window_ids.get(getattr(window, "id", -1), 0) if window is not None else 0
                elif event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEMOTION, pygame.MOUSEBUTTONUP):
                    index = hover
                    w, h = sinks[index].size
                    x, y = event.pos[0] / max(w - 1, 1), event.pos[1] / max(h - 1, 1)
                    if event.type == pygame.MOUSEBUTTONDOWN:
                        cal.select_output(index)
                        cal.nearest(x, y)
                        dragging = True
                    elif event.type == pygame.MOUSEBUTTONUP:
                        dragging = False
                    elif dragging and index == cal.output:
                        cal.place(x, y)
                        changed = True
            if changed:
                sinks[cal.output].set_keystone(cal.keystone_of(cal.output))
                sinks[cal.output].set_mesh(cal.mesh_of(cal.output))
            for i, sink in enumerate(sinks):
                sink.set_overlay("calibrate", _help(cal, i), "top-left")
                sink.show(Frame(_with_points(pattern, cal, i, regions[i]) if i == cal.output else pattern))
            frames += 1
            if max_frames is None:
                time.sleep(1 / 30)  # the technician's pace: 30 redraws a second is plenty
    finally:
        sinks[0].close()
        for sink in sinks[1:]:
            sink.close()
    return cal, sinks


def _key(cal: Calibration, event: Any, config: str | Path) -> bool:
    """Apply one key press; True when a point moved (the warp is rebuilt)."""
    import pygame

    big = 10 if event.mod & pygame.KMOD_SHIFT else 1
    moves = {pygame.K_LEFT: (-1, 0), pygame.K_RIGHT: (1, 0), pygame.K_UP: (0, -1), pygame.K_DOWN: (0, 1)}
    if event.key in moves:
        dx, dy = moves[event.key]
        cal.move(dx * STEP * big, dy * STEP * big)
        return True
    if event.key == pygame.K_TAB:
        cal.select_output(cal.output + 1)
    elif event.key == pygame.K_m:
        cal.toggle_mode()
    elif event.key == pygame.K_n:
        cal.step_point(1)
    elif event.key == pygame.K_p:
        cal.step_point(-1)
    elif event.key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
        cal.resize_mesh(min(9, len(cal.current.mesh) + 1))
        return True
    elif event.key in (pygame.K_MINUS, pygame.K_KP_MINUS):
        cal.resize_mesh(max(2, len(cal.current.mesh) - 1))
        return True
    elif event.key == pygame.K_r:
        cal.reset()
        return True
    elif event.key == pygame.K_s:
        try:
            save_calibration(config, cal)
        except (ConfigError, OSError) as exc:
            log.error("calibration NOT saved: %s", exc)
    return False


def _help(cal: Calibration, index: int) -> list[str]:
    lines = [f"projector {index + 1}"]
    if index == cal.output:
        rows = len(cal.current.mesh)
        what = "corner" if cal.mode == "corners" else f"mesh point ({rows}x{len(cal.current.mesh[0])})"
        lines += [
            f"{what} {cal.point + 1} selected",
            "Tab projector  m corners/mesh  arrows move (Shift 10x)",
            "n/p point  +/- mesh size  r reset  s save  Esc quit",
        ]
    return lines


def _with_points(pattern: np.ndarray, cal: Calibration, index: int, region: tuple[int, int, int, int]) -> np.ndarray:
    """The pattern with the grid points of projector ``index`` marked at their picture positions (they are
    warped with it, so each mark shows where its point lands), the selected one larger and red."""
    img = pattern.copy()
    x0, y0, w, h = region
    out = cal.outputs[index]
    rows = np.shape(out.mesh)[0] if cal.mode == "mesh" else 2
    cols = np.shape(out.mesh)[1] if cal.mode == "mesh" else 2
    home = identity_grid(rows, cols).reshape(-1, 2)
    if cal.mode == "corners":
        home = np.array(IDENTITY, dtype=np.float64)
    radius = max(4, h // 60)
    for k, (u, v) in enumerate(home):
        centre = (x0 + int(round(u * (w - 1))), y0 + int(round(v * (h - 1))))
        selected = k == cal.point
        cv2.circle(img, centre, radius * (2 if selected else 1), (255, 0, 0) if selected else (0, 0, 0), -1)
    return img
