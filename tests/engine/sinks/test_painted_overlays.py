"""PaintedOverlays: named overlays drawn into pictures at their place, cached, removable, hidden in a blackout."""

import numpy as np
import pytest

from engine.sinks.painted_overlays import PaintedOverlays, render_box


def grey(w: int = 320, h: int = 180) -> np.ndarray:
    return np.full((h, w, 3), 128, np.uint8)


def changed(before: np.ndarray, after: np.ndarray) -> tuple[slice, slice]:
    """The bounding rows and columns where ``after`` differs from ``before``."""
    ys, xs = np.nonzero(np.any(before != after, axis=2))
    return slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)


def test_an_overlay_is_drawn_at_its_position_and_the_input_is_untouched():
    """bottom-right text with a QR picture lands in the bottom-right corner; the given picture is not modified."""
    overlays = PaintedOverlays()
    overlays.set(
        "join", ["Paint this room", "http://10.0.0.5:8765/"], "bottom-right", image=np.zeros((30, 30, 3), np.uint8)
    )
    before = grey()
    after = overlays.paint(before)
    assert np.array_equal(before, grey())
    rows, cols = changed(before, after)
    assert rows.stop > 150 and cols.stop > 290 and rows.start > 40 and cols.start > 100
    assert after[rows, cols].min() == 0 and after[rows, cols].max() == 255  # the black QR, the white text


def test_nothing_to_draw_returns_the_same_picture():
    """No overlays, a removed overlay, or a blackout: the picture itself comes back, no copy made."""
    overlays = PaintedOverlays()
    picture = grey()
    assert overlays.paint(picture) is picture
    overlays.set("stats", ["30 fps"], "top-left")
    assert overlays.paint(picture) is not picture
    overlays.visible = False
    assert overlays.paint(picture) is picture
    overlays.visible = True
    overlays.set("stats", None)
    assert overlays.paint(picture) is picture and overlays.names == []


def test_text_that_opencv_cannot_draw_becomes_question_marks():
    """Non-ASCII text is drawn, as '?', rather than failing."""
    box, alpha = render_box(["Peins cette pièce"], None, 16)
    assert box.shape[0] > 0 and alpha.shape == box.shape[:2]


@pytest.mark.parametrize("bad", [dict(position="middle"), dict(size_px=-1), dict(image=np.zeros((4, 4), np.uint8))])
def test_bad_overlays_are_refused(bad):
    """A position that does not exist, a negative size or a picture that is not RGB is a ValueError."""
    with pytest.raises(ValueError):
        PaintedOverlays().set("x", ["text"], **{"position": "bottom", **bad})
