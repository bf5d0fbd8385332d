"""Two projector windows on a real X server (Xvfb): regions of one canvas, edge blend, mesh warp."""

import numpy as np
import pytest

from engine.frame import Frame
from engine.sinks.blend import BlendSpec, Zones
from engine.sinks.mesh import identity_grid
from engine.sinks.window import ProjectorSink
from tests.xserver import screenshot, xorg_heads, xvfb

W, H, OVERLAP = 320, 180, 64
CANVAS_W = 2 * W - OVERLAP
pytestmark = pytest.mark.filterwarnings("ignore:no fast renderer")


@pytest.fixture
def x_display(monkeypatch):
    with xvfb(1280, 400) as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
        yield display


def two_projectors(blend: bool = True, **second) -> tuple[ProjectorSink, ProjectorSink]:
    left = ProjectorSink(
        W,
        H,
        vsync=False,
        position=(40, 10),
        region=(0, 0, W, H),
        blend=BlendSpec(Zones(right=OVERLAP)) if blend else None,
    )
    right = ProjectorSink(
        W,
        H,
        vsync=False,
        position=(700, 200),
        region=(W - OVERLAP, 0, W, H),
        blend=BlendSpec(Zones(left=OVERLAP)) if blend else None,
        separate=True,
        **second,
    )
    left.companions = [right]
    left.open()
    right.open()
    return left, right


def show(sinks, canvas: np.ndarray) -> None:
    for sink in sinks:
        sink.show(Frame(canvas))
        sink.poll()


def test_each_window_shows_its_region_of_the_canvas_at_its_place(x_display):
    """Two real windows: each shows its part of the wide canvas, seen in an X screenshot at its position."""
    canvas = np.zeros((H, CANVAS_W, 3), np.uint8)
    canvas[:, :, 0] = (np.arange(CANVAS_W) * 255 // (CANVAS_W - 1))[None, :]  # red ramp across the canvas
    canvas[:, :, 1] = 90
    left, right = two_projectors(blend=False)
    try:
        show([left, right], canvas)
        assert np.array_equal(left.last_presented(), canvas[:, :W])
        assert np.array_equal(right.last_presented(), canvas[:, W - OVERLAP :])
        screen = screenshot(x_display)
        assert np.array_equal(screen[10 : 10 + H, 40 : 40 + W], canvas[:, :W])
        assert np.array_equal(screen[200 : 200 + H, 700 : 700 + W], canvas[:, W - OVERLAP :])
        assert not screen[H + 15 : 195, :].any()  # nothing between the two windows
        assert not screen[:, :35].any()  # the first window moved to its position too
    finally:
        left.close()
    assert right.size == (W, H) and right._window is None  # the display window closed its companion first


@pytest.mark.parametrize("level", [60, 128, 220])
def test_the_blended_overlap_sums_to_a_flat_field_in_linear_light(x_display, level):
    """A flat grey canvas: in the overlap, the two windows' light (gamma 2.2) adds up to the grey of the rest."""
    left, right = two_projectors()
    try:
        show([left, right], np.full((H, CANVAS_W, 3), level, np.uint8))
        a, b = left.last_presented(), right.last_presented()
        screen = screenshot(x_display)
        assert np.array_equal(screen[200 : 200 + H, 700 : 700 + W], b)  # what the renderer says is on screen
    finally:
        left.close()
    lin = lambda p: (p.astype(np.float64) / 255.0) ** 2.2  # noqa: E731
    flat = lin(np.uint8(level))
    total = lin(a[:, W - OVERLAP :]) + lin(b[:, :OVERLAP])
    assert np.allclose(total, flat, rtol=0.03, atol=0.002)
    assert np.allclose(lin(a[:, : W - OVERLAP]), flat) and np.allclose(lin(b[:, OVERLAP:]), flat)
    assert (a[:, W - OVERLAP :, 0] <= level).all() and a[0, -1, 0] < level / 4  # a ramp, dark at the edge


def test_a_separate_window_warps_through_its_mesh(x_display):
    """The second window's mesh moves the picture's centre grid point to where the mesh says."""
    grid = identity_grid(3, 3)
    grid[1, 1] = (0.6, 0.4)
    left, right = two_projectors(blend=False, mesh=grid.tolist())
    canvas = np.zeros((H, CANVAS_W, 3), np.uint8)
    cx, cy = W - OVERLAP + (W - 1) // 2, (H - 1) // 2  # the centre of the right window's region
    canvas[cy - 1 : cy + 2, cx - 1 : cx + 2] = 255
    try:
        show([left, right], canvas)
        shown = right.last_presented()
    finally:
        left.close()
    ys, xs = np.nonzero(shown[:, :, 0] > 64)
    assert abs(xs.mean() - 0.6 * (W - 1)) < 1.5 and abs(ys.mean() - 0.4 * (H - 1)) < 1.5


def test_monitor_1_opens_the_window_on_the_second_display(monkeypatch, tmp_path):
    """On an X server with two heads (SDL lists two displays), `monitor: 1` puts the first projector's window
    inside the second display's bounds, and `monitor: 0` the separate window inside the first's: each
    display's part of an X screenshot shows its own projector's region."""
    head_w, head_h = 800, 400
    with xorg_heads(2, head_w, head_h, str(tmp_path)) as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
        first = ProjectorSink(W, H, vsync=False, display=1, region=(0, 0, W, H))
        second = ProjectorSink(W, H, vsync=False, display=0, region=(W, 0, W, H), separate=True)
        first.companions = [second]
        canvas = np.zeros((H, 2 * W, 3), np.uint8)
        canvas[:, :W] = (200, 30, 30)
        canvas[:, W:] = (30, 200, 30)
        try:
            first.open()
            second.open()
            import pygame
            from pygame._sdl2.video import Window

            assert pygame.display.get_num_displays() == 2
            show([first, second], canvas)
            window = Window.from_display_module()
            placed = (window.display_index, window.position), (second._window.display_index, second._window.position)
            screen = screenshot(display)
        finally:
            first.close()
    (first_display, (x1, y1)), (second_display, (x2, y2)) = placed
    assert first_display == 1 and head_w <= x1 and x1 + W <= 2 * head_w and 0 <= y1 and y1 + H <= head_h
    assert second_display == 0 and 0 <= x2 and x2 + W <= head_w and 0 <= y2 and y2 + H <= head_h
    assert np.array_equal(screen[y1 : y1 + H, x1 : x1 + W], canvas[:, :W])
    assert np.array_equal(screen[y2 : y2 + H, x2 : x2 + W], canvas[:, W:])
    assert not (screen[:, head_w:] == (30, 200, 30)).all(axis=2).any()  # nothing of the second on display 1
    assert not (screen[:, :head_w] == (200, 30, 30)).all(axis=2).any()  # nor of the first on display 0
