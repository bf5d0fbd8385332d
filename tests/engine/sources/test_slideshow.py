import logging

import cv2
import numpy as np
import pytest

from engine.errors import SourceError
from engine.sources.slideshow import SlideshowSource
from tests.engine.sources.scripted import ManualClock

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def write_image(path, rgb, width=40, height=30):
    cv2.imwrite(str(path), cv2.cvtColor(np.full((height, width, 3), rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR))


@pytest.fixture
def folder(tmp_path):
    """Three one-colour images of different sizes, named so that they sort red, green, blue."""
    write_image(tmp_path / "a.png", RED, 40, 30)
    write_image(tmp_path / "b.jpg", GREEN, 100, 20)
    write_image(tmp_path / "c.png", BLUE, 10, 50)
    (tmp_path / "readme.txt").write_text("not an image")
    return tmp_path


def colour(frame):
    assert frame is not None
    return tuple(int(v) for v in frame.pixels[12, 16])


def near(a, b, tolerance=8):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    """A folder without images, or no folder at all, raises SourceError naming it."""
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="has no images"):
        SlideshowSource(tmp_path).open()
    with pytest.raises(SourceError, match="does not exist"):
        SlideshowSource(tmp_path / "missing").open()


def test_each_image_in_turn_with_a_crossfade_then_loop(folder):
    """Images come in name order at the output size, fade into each other, and loop."""
    clock = ManualClock()
    with SlideshowSource(folder, width=32, height=24, seconds=2.0, fade=1.0, fps=10, clock=clock) as show:
        first = show.read()
        assert first.size == (32, 24) and colour(first) == RED
        clock.advance(1.5)  # halfway through the fade red -> green
        assert near(colour(show.read()), (128, 128, 0), 16)
        clock.advance(0.5)
        assert near(colour(show.read()), GREEN)
        clock.advance(2.0)
        assert near(colour(show.read()), BLUE)
        clock.advance(2.0)
        assert colour(show.read()) == RED


def test_a_still_image_is_sent_once(folder):
    """Outside a fade nothing changes, so read() returns None until the fade starts."""
    clock = ManualClock()
    with SlideshowSource(folder, width=32, height=24, seconds=2.0, fade=1.0, fps=10, clock=clock) as show:
        assert show.read() is not None
        clock.advance(0.5)
        assert show.read() is None
        clock.advance(0.6)
        assert show.read() is not None


def test_fit_letterboxes_and_fill_crops(tmp_path):
    """fit="fit" leaves black bars around a wide image; fit="fill" covers the whole output."""
    write_image(tmp_path / "wide.png", RED, 64, 16)
    with SlideshowSource(tmp_path, width=32, height=32, fit="fit") as show:
        boxed = show.read().pixels
    with SlideshowSource(tmp_path, width=32, height=32, fit="fill") as show:
        filled = show.read().pixels
    assert not boxed[:8].any() and tuple(boxed[16, 16]) == RED
    assert (filled[:, :, 0] == 255).all()


def test_unreadable_files_are_left_out_with_a_warning(tmp_path, caplog):
    """A broken image is skipped with a WARNING; the others still play."""
    (tmp_path / "a_broken.png").write_bytes(b"not really a png")
    write_image(tmp_path / "b.png", GREEN)
    with caplog.at_level(logging.WARNING), SlideshowSource(tmp_path, width=32, height=24) as show:
        assert colour(show.read()) == GREEN
    assert "a_broken.png" in caplog.text


def test_a_list_of_files_works_too(folder):
    """A list of paths plays in the order given."""
    with SlideshowSource([folder / "c.png", folder / "a.png"], width=32, height=24) as show:
        assert colour(show.read()) == BLUE


def test_slideshow_says_when_its_next_picture_comes(folder):
    """next_frame_in: until the fade begins while a slide stands, one fade step while fading."""
    now = [0.0]
    show = SlideshowSource(folder, width=40, height=30, seconds=4.0, fade=1.0, fps=10, clock=lambda: now[0])
    show.open()
    assert show.next_frame_in() == 0.0
    show.read()
    now[0] = 1.0
    assert show.next_frame_in() == pytest.approx(2.0)
    now[0] = 3.05
    assert show.read() is not None and show.next_frame_in() == pytest.approx(0.05)
