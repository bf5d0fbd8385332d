"""The measures behind ``laterna bench --tables upscale``."""

import cv2
import numpy as np
import pytest

from engine.upscale import GuidedUpscaler
from installation.bench.upscale import gradient_correlation, upscale_cost_rows


def _picture() -> np.ndarray:
    img = np.zeros((90, 160, 3), np.uint8)
    cv2.rectangle(img, (20, 15), (90, 70), (255, 200, 40), -1)
    cv2.circle(img, (120, 45), 25, (40, 90, 250), -1)
    return img


def test_gradient_correlation_is_one_for_the_source_itself_and_drops_with_blur():
    """A picture correlates perfectly with itself; blurring it (edges lost) lowers the correlation, more blur
    lowers it more."""
    img = _picture()
    soft = cv2.GaussianBlur(img, (0, 0), 1.5)
    softer = cv2.GaussianBlur(img, (0, 0), 4.0)
    assert gradient_correlation(img, img) == pytest.approx(1.0)
    assert gradient_correlation(img, img) > gradient_correlation(soft, img) > gradient_correlation(softer, img)


def test_gradient_correlation_ignores_brightness_and_contrast():
    """Edges in the same places with half the contrast still correlate fully (the measure is about where the
    edges are, not how bright the picture is)."""
    img = _picture()
    dim = (img // 2 + 20).astype(np.uint8)
    assert gradient_correlation(dim, img) > 0.99


def test_gradient_correlation_needs_equal_sizes():
    """Pictures of different sizes are refused, not silently compared."""
    with pytest.raises(ValueError, match="sizes differ"):
        gradient_correlation(_picture(), _picture()[:80])


def test_cost_rows_time_each_output_size_step_with_both_guides():
    """The cost table has, per output size, the source render, its working copy, the guided upscaler with the
    default guide and the other one, and a resize, each with CPU ms and its share of a 30 fps frame; the
    OpenCV thread count is given back."""
    threads = cv2.getNumThreads()
    rows = upscale_cost_rows(GuidedUpscaler(), 0.05, outputs=((192, 108),), work=(64, 36))
    assert cv2.getNumThreads() == threads
    assert [r[0] for r in rows] == ["192x108"] * 5
    names = [r[1] for r in rows]
    assert "rendered at 192x108" in names[0] and "64x36 copy" in names[1]
    assert "luma" in names[2] and "rgb" in names[3] and names[4] == "resize"
    assert all(float(r[2]) >= 0 and r[3].endswith("%") for r in rows)
