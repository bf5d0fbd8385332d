"""The projector window: pygame, on a chosen display, fitted, blended, warped, with text overlays on top.

Per frame the work is one resize (only when the frame is not already the window's size), one blit,
the overlays' blits and, only when set: one crop to this projector's ``region`` of a wide canvas, one
multiply on the edge-blend strips (engine.sinks.blend), and one warp: a perspective warp for keystone
corners alone, or one ``cv2.remap`` through tables precomputed from the mesh (engine.sinks.mesh) and
the corners. Matrices, ramps and tables are rebuilt only when the calibration changes.

The first window of a show is pygame's display window; more projectors (``separate=True``) each get
an SDL window of their own (``pygame._sdl2.video``: Window, Renderer, streaming Texture) on their
display or desktop position. The display window reads the event queue for all of them.

Overlays are rendered to surfaces when they change, not per frame, with a real TrueType font
(``font_path``, else DejaVu Sans, else the FreeSans Bold that ships inside pygame) through
``pygame.freetype``, so kerning and non-English text come out right. During a blackout
(``overlays_visible = False``) no overlay is drawn: black means black. Call everything from the main
thread (SDL wants it); ``set_overlay`` may be called from another thread, it only stores the text for
the next ``show()``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pygame
import pygame.freetype

from engine.errors import ConfigError, SinkError
from engine.frame import Frame
from engine.sinks.base import FrameSink
from engine.sinks.blend import BlendSpec, EdgeBlend
from engine.sinks.keystone import check_corners, is_identity, keystone_matrix, warp
from engine.sinks.mesh import Maps, check_grid, remap, unit_keystone, warp_maps
from engine.sinks.mesh import is_identity as is_identity_mesh
from engine.sinks.painted_overlays import ANCHORS, check_overlay
from engine.sources.transform import crop_box, fit_size, resize

log = logging.getLogger(__name__)

FITS = ("letterbox", "fill")
_CENTRED_ON = 0x2FFF0000  # SDL_WINDOWPOS_CENTERED_DISPLAY(n) = this | n
# Overlay position -> (column, row) in a 3x3 grid of the window: the same grid as the streams' overlays.
_ANCHORS = ANCHORS
TEXT_RGB = (255, 255, 255)
BOX_RGBA = (0, 0, 0, 150)
FONT_CANDIDATES = (  # the first that exists is used; pygame's own font is always there
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "C:/Windows/Fonts/segoeui.ttf",
)


def default_font_path() -> str:
    """A TrueType font for overlays: DejaVu Sans where installed, else the FreeSans Bold inside pygame."""
    for path in FONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    return os.path.join(os.path.dirname(pygame.__file__), "freesansbold.ttf")


@dataclass
class _Overlay:
    lines: tuple[str, ...]
    position: str
    surface: pygame.Surface | None = None  # rendered on the main thread when first needed
    image: np.ndarray | None = None  # optional RGB picture above the text (e.g. a QR code)
    size_px: int = 0  # text height in pixels; 0: the window's default


@dataclass(frozen=True)
class _Layout:
    """Where a frame of one size goes: the part of it that is shown and the window rectangle it fills."""

    crop: tuple[int, int, int, int]
    dest: tuple[int, int, int, int]
    bars: tuple[tuple[int, int, int, int], ...]  # window rectangles left black


class ProjectorSink(FrameSink):
    """A pygame window (or full screen) that shows frames fitted to its size and keystone-corrected."""

    name = "window"

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        display: int = 0,
        fullscreen: bool = False,
        fit: str = "letterbox",
        keystone: Sequence[Sequence[float]] | None = None,
        vsync: bool = True,
        hide_cursor: bool = True,
        title: str = "Laterna",
        font_size: int = 0,
        font_path: str = "",
        region: Sequence[int] | None = None,
        blend: BlendSpec | None = None,
        mesh: Sequence[Sequence[Sequence[float]]] | None = None,
        position: Sequence[int] | None = None,
        separate: bool = False,
        draws_overlays: bool = True,
    ) -> None:
        """``width``/``height`` 0 take the display's desktop size; ``font_size`` 0 scales with the height;
        ``font_path`` empty: DejaVu Sans, else pygame's own font. ``region`` (x, y, w, h): the part of each
        frame (a wide canvas) this projector shows; ``blend``: its edge blend and colour; ``mesh``: rows of
        [x, y] points in 0..1 where a regular grid over the picture lands; ``position``: the window's
        desktop position; ``separate``: an SDL window of its own (every projector after the first);
        ``draws_overlays`` False: text overlays are kept but not drawn here (one QR code on a wall, not two)."""
        if width < 0 or height < 0:
            raise ConfigError(f"window: width and height must be >= 0, got {width}x{height}")
        if fit not in FITS:
            raise ConfigError(f"window: fit must be one of {FITS}, got {fit!r}")
        if display < 0:
            raise ConfigError(f"window: display must be >= 0, got {display}")
        self.width = width
        self.height = height
        self.display = display
        self.fullscreen = fullscreen
        self.fit = fit
        self.vsync = vsync
        self.hide_cursor = hide_cursor
        self.title = title
        self.font_size = font_size
        self.font_path = font_path
        self.overlays_visible = True  # False during a blackout: nothing is drawn on the black
        self.keystone = check_corners(keystone) if keystone is not None else None
        if region is not None and (len(region) != 4 or min(region[:2]) < 0 or min(region[2:]) < 1):
            raise ConfigError(f"window: region must be [x, y, width, height], got {region!r}")
        self.region = tuple(int(v) for v in region) if region is not None else None
        self.blend = blend
        self.mesh = check_grid(mesh) if mesh is not None else None
        self.position = tuple(int(v) for v in position) if position is not None else None
        self.separate = separate
        self.draws_overlays = draws_overlays
        self.companions: list[ProjectorSink] = []  # separate windows to close before the display goes
        self._window: Any = None  # separate: pygame._sdl2.video.Window, Renderer, Texture
        self._renderer: Any = None
        self._texture: Any = None
        self._maps: Maps | None = None
        self._blends: dict[tuple[int, int, int, int], EdgeBlend | None] = {}
        self._blended: np.ndarray | None = None
        self._screen: pygame.Surface | None = None
        self._size = (0, 0)
        self._matrix: np.ndarray | None = None
        self._canvas: np.ndarray | None = None  # window-sized composition, only when keystoning
        self._canvas_surface: pygame.Surface | None = None
        self._warped: np.ndarray | None = None
        self._warped_surface: pygame.Surface | None = None
        self._layouts: dict[tuple[int, int], _Layout] = {}
        self._overlays: dict[str, _Overlay] = {}
        self._overlay_lock = threading.Lock()
        self._font: pygame.freetype.Font | None = None
        self._font_failed = False
        self.key_handlers: list[Callable[[str], None]] = []  # called with pygame's key name, e.g. "b"

    # -- FrameSink ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self._screen is not None:
            return
        if self.separate:
            self._open_separate()
            return
        try:
            pygame.display.init()
        except pygame.error as exc:
            raise SinkError(f"window: no display available ({exc})") from exc
        displays = pygame.display.get_num_displays()
        display = self.display
        if display >= displays:
            log.warning("window: display %d not found (%d connected); using display 0", display, displays)
            display = 0
        desktop = pygame.display.get_desktop_sizes()[display]
        size = (self.width or desktop[0], self.height or desktop[1])
        flags = pygame.FULLSCREEN if self.fullscreen else 0
        screen = None
        if self.vsync:
            try:  # SDL gives vsync only through its renderer, which pygame uses for SCALED windows
                screen = pygame.display.set_mode(size, flags | pygame.SCALED, display=display, vsync=1)
            except pygame.error as exc:
                log.info("window: vsync unavailable (%s); continuing without it", exc)
        if screen is None:
            try:
                screen = pygame.display.set_mode(size, flags, display=display)
            except pygame.error as exc:
                pygame.display.quit()
                raise SinkError(f"window: cannot open {size[0]}x{size[1]} on display {display} ({exc})") from exc
        pygame.display.set_caption(self.title)
        if self.position is not None:
            try:
                from pygame._sdl2.video import Window

                Window.from_display_module().position = self.position
            except (pygame.error, ImportError, AttributeError) as exc:
                log.warning("window: cannot move the window to %s (%s)", self.position, exc)
        if self.hide_cursor:
            try:
                pygame.mouse.set_visible(False)
            except pygame.error as exc:
                log.debug("window: cannot hide the cursor: %s", exc)
        self._screen = screen
        self._size = screen.get_size()
        self._layouts.clear()
        self._set_matrix()
        log.info("window: %dx%d on display %d%s", *self._size, display, " (full screen)" if self.fullscreen else "")

    def show(self, frame: Frame) -> None:
        screen = self._screen
        if screen is None:
            raise SinkError("window: show() before open()")
        try:
            source = frame.pixels
            if self.region is not None:
                rx, ry, rw, rh = self.region
                source = source[ry : ry + rh, rx : rx + rw]
            fh, fw = source.shape[:2]
            if fw == 0 or fh == 0:
                raise SinkError(f"window: region {self.region} lies outside the {frame.width}x{frame.height} frame")
            layout = self._layout(fw, fh)
            x, y, w, h = layout.crop
            pixels = resize(source[y : y + h, x : x + w], layout.dest[2], layout.dest[3])
            pixels = np.ascontiguousarray(pixels)
            blend = self._blend_for(layout, fw, fh)
            if blend is not None:
                if self._blended is None or self._blended.shape != pixels.shape:
                    self._blended = np.empty_like(pixels)
                pixels = blend.apply(pixels, self._blended)
            if self._matrix is None and self._maps is None:
                for bar in layout.bars:
                    screen.fill((0, 0, 0), bar)
                # pygame's stub omits the buffer protocol that frombuffer really takes (an ndarray, no copy).
                surface = pygame.image.frombuffer(pixels, (pixels.shape[1], pixels.shape[0]), "RGB")  # type: ignore[arg-type]
                screen.blit(surface, layout.dest[:2])
                self._draw_overlays(screen)
            else:
                canvas, canvas_surface = self._canvas, self._canvas_surface
                assert canvas is not None and canvas_surface is not None and self._warped_surface is not None
                dx, dy, dw, dh = layout.dest
                if layout.bars:
                    canvas[:] = 0
                canvas[dy : dy + dh, dx : dx + dw] = pixels
                self._draw_overlays(canvas_surface)  # drawn before the warp: overlays are keystoned too
                if self._maps is not None:
                    remap(canvas, self._maps, out=self._warped)
                else:
                    assert self._matrix is not None
                    warp(canvas, self._matrix, out=self._warped)
                screen.blit(self._warped_surface, (0, 0))
            self._flip()
        except pygame.error as exc:
            raise SinkError(f"window: drawing failed ({exc})") from exc

    def poll(self) -> bool:
        """Handle window events; False when the window is closed or Esc is pressed. Other key presses go
        to ``key_handlers`` (operator hot keys); a handler that fails is logged, not raised. A separate
        window leaves the event queue to the display window, which reads it for every window."""
        if self._screen is None or self.separate:
            return True
        keep_going = True
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                keep_going = False
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE:
                keep_going = False
            elif event.type == pygame.KEYDOWN:
                name = pygame.key.name(event.key)
                for handler in self.key_handlers:
                    try:
                        handler(name)
                    except Exception:  # a key must never end the show
                        log.exception("key %r handler failed", name)
        return keep_going

    def close(self) -> None:
        for companion in self.companions:  # their SDL windows go before the display they live on
            companion.close()
        if self._screen is None:
            return
        self._screen = None
        self._canvas = self._warped = self._blended = None
        self._canvas_surface = self._warped_surface = None
        if self.separate:
            self._texture = self._renderer = None
            window, self._window = self._window, None
            if window is not None and pygame.display.get_init():
                window.destroy()
            return
        pygame.display.quit()

    # -- for other parts of the installation ----------------------------------------------------------
    def set_overlay(
        self,
        name: str,
        lines: Sequence[str] | None,
        position: str = "bottom",
        image: np.ndarray | None = None,
        size_px: int = 0,
    ) -> None:
        """Show ``lines`` of text (and an optional RGB ``image`` above them, e.g. a QR code) at
        ``position`` (e.g. "bottom", "top-left") under ``name``, ``size_px`` high (0: the window's
        default size); None removes it."""
        check_overlay(position, image, size_px)
        with self._overlay_lock:
            if lines is None:
                self._overlays.pop(name, None)
                return
            lines = tuple(str(line) for line in lines)
            old = self._overlays.get(name)
            if (
                old is None
                or old.lines != lines
                or old.position != position
                or old.image is not image
                or old.size_px != size_px
            ):
                self._overlays[name] = _Overlay(lines, position, image=image, size_px=size_px)

    def set_keystone(self, corners: Sequence[Sequence[float]] | None) -> None:
        """Move the picture's corners to ``corners`` (TL, TR, BR, BL in 0..1); None or the identity removes it."""
        self.keystone = check_corners(corners) if corners is not None else None
        if self._screen is not None:
            self._set_matrix()

    def set_mesh(self, mesh: Sequence[Sequence[Sequence[float]]] | None) -> None:
        """Warp through a grid of control points (rows of [x, y] in 0..1); None or the regular grid removes it.
        The remap tables are rebuilt here, once, not per frame."""
        self.mesh = check_grid(mesh) if mesh is not None else None
        if self._screen is not None:
            self._set_matrix()

    def set_blend(self, blend: BlendSpec | None) -> None:
        """A new edge blend and colour (ramps rebuilt at the next frame)."""
        self.blend = blend
        self._blends.clear()

    def last_presented(self) -> np.ndarray:
        """A copy of what the window shows now, RGB uint8 HxWx3 (a separate window: read back from its renderer)."""
        if self._screen is None:
            raise SinkError("window: not open")
        w, h = self._size
        if self._renderer is not None:
            surface = self._renderer.to_surface()
            return np.frombuffer(pygame.image.tobytes(surface, "RGB"), dtype=np.uint8).reshape(h, w, 3).copy()
        return np.frombuffer(pygame.image.tobytes(self._screen, "RGB"), dtype=np.uint8).reshape(h, w, 3).copy()

    @property
    def warping(self) -> bool:
        """True when keystone corners other than the identity, or a mesh, are in effect."""
        return self._matrix is not None or self._maps is not None

    @property
    def size(self) -> tuple[int, int]:
        """The window's (width, height) once open."""
        return self._size

    # -- inside ------------------------------------------------------------------------------------
    def _set_matrix(self) -> None:
        w, h = self._size
        corners = None if self.keystone is None or is_identity(self.keystone) else self.keystone
        mesh = None if self.mesh is None or is_identity_mesh(self.mesh) else self.mesh
        self._maps = None
        if corners is None and mesh is None:
            self._matrix = None
            self._canvas = self._warped = None
            self._canvas_surface = self._warped_surface = None
            return
        if mesh is None:
            assert corners is not None
            self._matrix = keystone_matrix(corners, w, h)
        else:
            self._matrix = None
            self._maps = warp_maps(mesh, w, h, unit_keystone(corners) if corners is not None else None)
        if self._canvas is None:
            self._canvas = np.zeros((h, w, 3), dtype=np.uint8)
            self._warped = np.zeros((h, w, 3), dtype=np.uint8)
            # The surfaces share the arrays' memory; pygame's stub omits the buffer protocol frombuffer takes.
            self._canvas_surface = pygame.image.frombuffer(self._canvas, (w, h), "RGB")  # type: ignore[arg-type]
            self._warped_surface = pygame.image.frombuffer(self._warped, (w, h), "RGB")  # type: ignore[arg-type]

    def _open_separate(self) -> None:
        """An SDL window of its own (a second, third ... projector), drawn through a renderer."""
        try:
            pygame.display.init()
            from pygame._sdl2.video import Renderer, Texture, Window
        except (pygame.error, ImportError) as exc:
            raise SinkError(f"window: no display available for a second window ({exc})") from exc
        displays = pygame.display.get_num_displays()
        display = self.display
        if display >= displays:
            log.warning("window: display %d not found (%d connected); using display 0", display, displays)
            display = 0
        desktop = pygame.display.get_desktop_sizes()[display]
        size = (self.width or desktop[0], self.height or desktop[1])
        position = self.position if self.position is not None else (_CENTRED_ON | display, _CENTRED_ON | display)
        try:
            window = Window(self.title, size=size, position=position, fullscreen_desktop=self.fullscreen)
            try:
                renderer = Renderer(window, vsync=self.vsync)
            except pygame.error as exc:
                log.info("window: vsync unavailable (%s); continuing without it", exc)
                renderer = Renderer(window)
            texture = Texture(renderer, size, streaming=True)
        except pygame.error as exc:
            raise SinkError(f"window: cannot open {size[0]}x{size[1]} on display {display} ({exc})") from exc
        self._window, self._renderer, self._texture = window, renderer, texture
        self._screen = pygame.Surface(size)  # composed here, uploaded to the texture at each frame
        self._size = size
        self._layouts.clear()
        self._set_matrix()
        log.info("window: %dx%d on display %d (a separate window)%s", *size, display, " full screen" * self.fullscreen)

    def _flip(self) -> None:
        if self._renderer is None:
            pygame.display.flip()
            return
        assert self._screen is not None
        self._texture.update(self._screen)
        self._renderer.clear()
        self._renderer.blit(self._texture)
        self._renderer.present()

    def _blend_for(self, layout: _Layout, frame_width: int, frame_height: int) -> EdgeBlend | None:
        """The edge blend for this layout, built once per size; None when it would change nothing."""
        if self.blend is None:
            return None
        key = (*layout.dest[2:], frame_width, frame_height)
        if key not in self._blends:
            dw, dh = layout.dest[2], layout.dest[3]
            cw, ch = layout.crop[2], layout.crop[3]
            try:
                built: EdgeBlend | None = self.blend.build(dw, dh, (cw, ch))
            except ConfigError as exc:  # zones wider than the picture: shown unblended, said once
                log.warning("window: no edge blend at %dx%d: %s", dw, dh, exc)
                built = None
            self._blends[key] = None if built is None or built.is_identity else built
        return self._blends[key]

    def _layout(self, frame_width: int, frame_height: int) -> _Layout:
        key = (frame_width, frame_height)
        layout = self._layouts.get(key)
        if layout is None:
            width, height = self._size
            if self.fit == "fill":
                crop = crop_box(frame_width, frame_height, width, height, "fill")
                dest = (0, 0, width, height)
            else:
                crop = (0, 0, frame_width, frame_height)
                dest = fit_size(frame_width, frame_height, width, height)
            x, y, w, h = dest
            left, right = (0, 0, x, height), (x + w, 0, width - x - w, height)
            top, bottom = (x, 0, w, y), (x, y + h, w, height - y - h)
            bars = tuple(r for r in (left, right, top, bottom) if r[2] > 0 and r[3] > 0)
            layout = self._layouts[key] = _Layout(crop, dest, bars)
        return layout

    def _draw_overlays(self, target: pygame.Surface) -> None:
        if not self.overlays_visible or not self.draws_overlays:
            return
        with self._overlay_lock:
            overlays = list(self._overlays.values())
        if not overlays or not self._ensure_font():
            return
        width, height = target.get_size()
        margin = max(4, height // 60)
        for overlay in overlays:
            if overlay.surface is None:
                overlay.surface = self._render(overlay.lines, overlay.image, overlay.size_px)
            box = overlay.surface
            bw, bh = box.get_size()
            col, row = _ANCHORS[overlay.position]
            x = (margin, (width - bw) // 2, width - bw - margin)[col]
            y = (margin, (height - bh) // 2, height - bh - margin)[row]
            target.blit(box, (x, y))

    def _default_size(self) -> int:
        return self.font_size or max(12, self._size[1] // 28)

    def _ensure_font(self) -> bool:
        if self._font is not None:
            return True
        if self._font_failed:
            return False
        path = self.font_path or default_font_path()
        try:
            pygame.freetype.init()
            self._font = pygame.freetype.Font(path, self._default_size())
        except (pygame.error, NotImplementedError, OSError, AttributeError) as exc:
            self._font_failed = True
            log.warning("window: no font available (%s: %s); overlays will not be drawn", path, exc)
            return False
        self._font.pad = True  # every line as high as the font's line: even spacing
        return True

    def _render(self, lines: tuple[str, ...], image: np.ndarray | None = None, size_px: int = 0) -> pygame.Surface:
        font = self._font
        assert font is not None
        size = size_px or self._default_size()
        rendered = [font.render(line, TEXT_RGB, size=size)[0] for line in lines if line]
        if image is not None:
            h, w = image.shape[:2]
            rendered.insert(0, pygame.image.frombuffer(np.ascontiguousarray(image).tobytes(), (w, h), "RGB"))
        pad = max(3, size // 3)
        gap = max(1, size // 6)
        if not rendered:
            return pygame.Surface((0, 0))
        w = max(r.get_width() for r in rendered) + 2 * pad
        h = sum(r.get_height() for r in rendered) + gap * (len(rendered) - 1) + 2 * pad
        box = pygame.Surface((w, h), pygame.SRCALPHA)
        box.fill(BOX_RGBA)
        y = pad
        for r in rendered:
            box.blit(r, (pad, y))
            y += r.get_height() + gap
        return box
