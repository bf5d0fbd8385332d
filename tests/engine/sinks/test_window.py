import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import logging  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from engine.errors import ConfigError, SinkError  # noqa: E402
from engine.frame import Frame  # noqa: E402
from engine.sinks.keystone import IDENTITY  # noqa: E402
from engine.sinks.window import ProjectorSink  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:no fast renderer")
W, H = 64, 48


@pytest.fixture
def window():
    sink = ProjectorSink(W, H)
    sink.open()
    yield sink
    sink.close()


def gradient(width: int, height: int) -> np.ndarray:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, :, 0] = (np.arange(width) * 255 // max(1, width - 1))[None, :]
    pixels[:, :, 1] = (np.arange(height) * 255 // max(1, height - 1))[:, None]
    pixels[:, :, 2] = 90
    return pixels


def test_a_frame_of_the_window_size_is_shown_exactly(window):
    """A frame the size of the window comes back pixel for pixel from the screen."""
    pixels = gradient(W, H)
    window.show(Frame(pixels))
    assert window.size == (W, H)
    assert np.array_equal(window.last_presented(), pixels)


def test_letterbox_centres_a_narrow_frame_between_black_bars(window):
    """fit="letterbox": a half-width frame is centred with black bars left and right."""
    window.show(Frame(np.full((H, W // 2, 3), 200, dtype=np.uint8)))
    shown = window.last_presented()
    assert not shown[:, : W // 4 - 1].any() and not shown[:, 3 * W // 4 + 1 :].any()
    assert (shown[:, W // 4 + 1 : 3 * W // 4 - 1] == 200).all()


def test_fill_crops_a_wide_frame_to_the_window():
    """fit="fill": a double-width frame fills the window with its central half."""
    sink = ProjectorSink(W, H, fit="fill")
    sink.open()
    try:
        wide = np.zeros((H, 2 * W, 3), dtype=np.uint8)
        wide[:, W // 2 : 3 * W // 2] = 255
        sink.show(Frame(wide))
        assert (sink.last_presented() == 255).all()
    finally:
        sink.close()


def test_keystone_moves_the_picture_corners(window):
    """With keystone corners set, the window corners go black and the picture fills the requested quad."""
    corners = ((0.25, 0.25), (0.75, 0.25), (1.0, 1.0), (0.0, 1.0))
    window.set_keystone(corners)
    assert window.warping
    window.show(Frame(np.full((H, W, 3), 255, dtype=np.uint8)))
    shown = window.last_presented()
    assert tuple(shown[0, 0]) == (0, 0, 0) and tuple(shown[0, W - 1]) == (0, 0, 0)
    assert (shown[int(0.3 * H), W // 2] == 255).all() and (shown[H - 1, W // 2] == 255).all()
    assert tuple(shown[int(0.26 * (H - 1)) + 1, int(0.26 * (W - 1)) + 1]) != (0, 0, 0)


def test_identity_keystone_skips_the_warp(window):
    """Corners at the picture's own corners turn the warp off, and the frame is shown unchanged."""
    window.set_keystone(IDENTITY)
    assert not window.warping
    pixels = gradient(W, H)
    window.show(Frame(pixels))
    assert np.array_equal(window.last_presented(), pixels)


def test_overlays_are_drawn_where_asked_and_removed(window):
    """A caption appears at the bottom, leaves the top alone, and disappears when set to None."""
    grey = np.full((H, W, 3), 128, dtype=np.uint8)
    window.set_overlay("caption", ["hello"], "bottom")
    window.show(Frame(grey))
    shown = window.last_presented()
    assert (shown[: H // 3] == 128).all()
    assert (shown[H // 2 :] != 128).any()
    window.set_overlay("caption", None)
    window.show(Frame(grey))
    assert (window.last_presented() == 128).all()


def test_overlays_follow_the_keystone(window):
    """With keystone on, the overlay is drawn before the warp, so it is keystoned with the picture."""
    window.set_keystone(((0.2, 0.0), (0.8, 0.0), (1.0, 1.0), (0.0, 1.0)))
    window.set_overlay("debug", ["fps 30"], "top-left")
    window.show(Frame(np.full((H, W, 3), 128, dtype=np.uint8)))
    shown = window.last_presented()
    assert tuple(shown[0, 0]) == (0, 0, 0)  # outside the quad: not even the overlay box
    assert (shown[: H // 3, W // 5 : W // 2] != 128).any()


def test_without_a_font_overlays_are_skipped_with_one_warning(window, tmp_path, caplog):
    """If the font cannot be loaded, frames still show and the problem is logged once."""
    window.font_path = str(tmp_path / "missing.ttf")
    window.set_overlay("caption", ["hello"])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            window.show(Frame(np.full((H, W, 3), 50, dtype=np.uint8)))
    assert (window.last_presented() == 50).all()
    assert sum("no font" in r.getMessage() for r in caplog.records) == 1


def test_poll_stops_on_quit_and_escape(window):
    """poll() is True with no events, False after a window close or an Esc key."""
    assert window.poll()
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    assert not window.poll()
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0, unicode="\x1b", scancode=41))
    assert not window.poll()
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_a, mod=0, unicode="a", scancode=4))
    assert window.poll()


def test_other_keys_reach_the_key_handlers_and_a_failing_one_is_logged(window, caplog):
    """A key press other than Esc goes to every key handler by name; a handler that raises is logged and the
    window keeps going."""
    pressed = []

    def broken(name):
        raise RuntimeError("handler bug")

    window.key_handlers += [pressed.append, broken]
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_b, mod=0, unicode="b", scancode=5))
    with caplog.at_level(logging.ERROR):
        assert window.poll()
    assert pressed == ["b"] and any("handler failed" in r.getMessage() for r in caplog.records)


def test_missing_display_falls_back_to_the_first(caplog):
    """A display index that is not connected opens on display 0 with a WARNING."""
    sink = ProjectorSink(W, H, display=5)
    with caplog.at_level(logging.WARNING):
        sink.open()
    try:
        assert sink.size == (W, H)
        assert "display 5 not found" in caplog.text
    finally:
        sink.close()


def test_fullscreen_without_a_size_takes_the_desktop_size():
    """fullscreen with width=height=0 opens at the display's desktop resolution."""
    sink = ProjectorSink(0, 0, fullscreen=True, vsync=False)
    sink.open()
    try:
        assert sink.size == tuple(pygame.display.get_desktop_sizes()[0])
    finally:
        sink.close()


def test_misuse_is_reported():
    """show() before open() is a SinkError, a bad fit or bad corners a ConfigError, close() twice is fine."""
    sink = ProjectorSink(W, H)
    with pytest.raises(SinkError):
        sink.show(Frame(np.zeros((H, W, 3), dtype=np.uint8)))
    sink.close()
    sink.close()
    with pytest.raises(ConfigError):
        ProjectorSink(W, H, fit="stretch")
    with pytest.raises(ConfigError):
        ProjectorSink(W, H, keystone=[(0, 0), (1, 1)])


def test_without_vsync_support_the_window_still_opens(monkeypatch, caplog):
    """If asking for vsync fails, the window opens without it and says so at INFO."""
    real_set_mode = pygame.display.set_mode

    def set_mode(size, flags=0, depth=0, display=0, vsync=0):
        if vsync:
            raise pygame.error("vsync not supported here")
        return real_set_mode(size, flags, depth, display)

    monkeypatch.setattr(pygame.display, "set_mode", set_mode)
    sink = ProjectorSink(W, H, vsync=True)
    with caplog.at_level(logging.INFO):
        sink.open()
    try:
        sink.show(Frame(np.full((H, W, 3), 9, dtype=np.uint8)))
        assert (sink.last_presented() == 9).all()
        assert "vsync unavailable" in caplog.text
    finally:
        sink.close()


def test_no_overlay_is_drawn_during_a_blackout(window):
    """With overlays hidden (a blackout), a black frame stays entirely black; shown again, the text is back."""
    window.set_overlay(
        "join",
        ["Paint this room with words:", "http://192.0.2.1/"],
        "bottom-right",
        image=np.full((20, 20, 3), 255, np.uint8),
    )
    window.overlays_visible = False
    window.show(Frame(np.zeros((H, W, 3), dtype=np.uint8)))
    assert window.last_presented().max() == 0
    window.overlays_visible = True
    window.show(Frame(np.zeros((H, W, 3), dtype=np.uint8)))
    assert window.last_presented().max() == 255


def test_overlay_text_size_follows_size_px(window):
    """A larger size_px draws a larger text box (a real TrueType font, not a fixed bitmap size)."""
    heights = []
    for size in (12, 24):
        window.set_overlay("caption", ["Paint this room"], "top-left", size_px=size)
        window.show(Frame(np.full((H, W, 3), 128, dtype=np.uint8)))
        rows = np.where((window.last_presented() != 128).any(axis=(1, 2)))[0]
        heights.append(int(rows.max() - rows.min() + 1))
    assert heights[1] > heights[0] * 1.5


def test_default_font_is_a_truetype_file_that_exists():
    """The overlay font is DejaVu Sans where installed, else the font inside pygame: always a real file."""
    from engine.sinks.window import default_font_path

    assert default_font_path().endswith(".ttf") and os.path.isfile(default_font_path())


def test_a_region_of_a_wide_canvas_is_shown_blended_at_its_edge():
    """region crops the canvas; a right-edge blend darkens the last columns and leaves the rest."""
    from engine.sinks.blend import BlendSpec, Zones

    sink = ProjectorSink(W, H, region=(W // 2, 0, W, H), blend=BlendSpec(Zones(right=16)))
    sink.open()
    try:
        canvas = np.zeros((H, 2 * W, 3), np.uint8)
        canvas[:, W // 2 : W // 2 + W] = 180
        sink.show(Frame(canvas))
        shown = sink.last_presented()
    finally:
        sink.close()
    assert (
        (shown[:, : W - 16] == 180).all()
        and shown[:, -1].max() < 40
        and (np.diff(shown[0, -16:, 0].astype(int)) <= 0).all()
    )


def test_a_region_outside_the_frame_is_a_sink_error():
    """A region beyond the frame fails as a SinkError (the loop logs it and goes on), not a crash."""
    sink = ProjectorSink(W, H, region=(500, 0, W, H))
    sink.open()
    try:
        with pytest.raises(SinkError, match="outside"):
            sink.show(Frame(np.zeros((H, W, 3), np.uint8)))
    finally:
        sink.close()


def test_blend_zones_wider_than_the_picture_show_it_unblended(caplog):
    """Zones that cannot fit: the picture is shown as it is, with one WARNING."""
    from engine.sinks.blend import BlendSpec, Zones

    sink = ProjectorSink(W, H, blend=BlendSpec(Zones(left=W, right=W)))
    sink.open()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                sink.show(Frame(np.full((H, W, 3), 99, np.uint8)))
        assert (sink.last_presented() == 99).all()
    finally:
        sink.close()
    assert caplog.text.count("no edge blend") == 1
