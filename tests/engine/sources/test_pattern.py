import cv2
import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sources.pattern import SKY_KEY_S, PatternSource
from tests.engine.sources.scripted import ManualClock


def test_same_seed_and_time_give_the_same_picture():
    """render(t) is a pure function of the seed and t."""
    a = PatternSource(160, 90, seed=3).render(12.5)
    b = PatternSource(160, 90, seed=3).render(12.5)
    assert a.shape == (90, 160, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_it_moves_and_seeds_differ():
    """The picture changes over time, and another seed gives another landscape."""
    source = PatternSource(160, 90, seed=0)
    assert not np.array_equal(source.render(0.0), source.render(2.0))
    assert not np.array_equal(source.render(5.0), PatternSource(160, 90, seed=1).render(5.0))


def test_it_has_colour_and_edges_for_a_style_network():
    """The picture is not flat: varied colour and a fair share of edge pixels."""
    for t in (0.0, 40.0, 80.0):
        img = PatternSource(320, 180, seed=0).render(t)
        assert img.reshape(-1, 3).std(axis=0).mean() > 10
        edges = cv2.Canny(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 30, 90)
        assert (edges > 0).mean() > 0.01


def test_read_is_paced_at_fps():
    """read() gives a new frame once per 1/fps seconds and None in between; the frame is render(seq/fps)."""
    clock = ManualClock()
    with PatternSource(64, 36, fps=10, seed=0, clock=clock) as source:
        first = source.read()
        assert first is not None and first.seq == 0
        assert source.read() is None
        clock.advance(0.05)
        assert source.read() is None
        clock.advance(0.26)
        frame = source.read()
    assert frame is not None and frame.seq == 3
    assert np.array_equal(frame.pixels, PatternSource(64, 36, fps=10, seed=0).render(0.3))


def test_bad_settings_are_config_errors():
    """A tiny size or a non-positive fps is refused at construction."""
    with pytest.raises(ConfigError):
        PatternSource(4, 4)
    with pytest.raises(ConfigError):
        PatternSource(64, 36, fps=0)


def direct_sky(source: PatternSource, t: float) -> np.ndarray:
    """The sky as first written: every Gaussian evaluated on the whole grid (the reference for ``sky``)."""
    sky_top, horizon, _, _, sun_rgb, cloud_rgb = source._palette(t)
    gx, gy = source._gx.astype(np.float64), source._gy.astype(np.float64)
    sky = sky_top + (horizon - sky_top) * source._sky_ramp[:, :, None].astype(np.float64)
    aspect = source.width / source.height
    day = (t / 120.0 + source._day_offset) % 1.0
    d2 = (gx - (0.2 + 0.6 * day) * aspect) ** 2 + (gy - (0.42 - 0.25 * np.sin(np.pi * day))) ** 2
    glow = np.exp(-d2 / 0.004) + 0.35 * np.exp(-d2 / 0.04)
    sky = sky + (sun_rgb - sky) * np.clip(glow, 0.0, 1.0)[:, :, None]
    for cy, radius, speed, phase, stretch in source._clouds:
        cx = ((phase + speed * t) % 1.4 - 0.2) * aspect
        d2 = ((gx - cx) / stretch) ** 2 + (gy - cy) ** 2
        sky = sky + (cloud_rgb - sky) * (0.55 * np.exp(-d2 / (radius * radius)))[:, :, None]
    return np.clip(sky, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(160, 90), (1920, 1080)])
def test_the_separable_sky_equals_the_direct_formula(size):
    """The sky computed as outer products of row and column Gaussians is the whole-grid formula's sky, to
    within a level, at several times of day (the cheap form keeps the look)."""
    source = PatternSource(*size, seed=2)
    for t in (0.0, 31.0, 64.0, 97.0):
        assert np.abs(source.sky(t).astype(int) - direct_sky(source, t)).max() <= 1


def test_the_full_hd_picture_has_crisp_full_resolution_edges():
    """At 1920x1080 the hills and trees are drawn at full size: the picture holds edge detail that its own
    640x360 copy, enlarged back, does not (it is a useful guide for the upscaler)."""
    img = PatternSource(1920, 1080, seed=0).render(20.0)
    back = cv2.resize(cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA), (1920, 1080))
    grey, grey_back = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (img, back))
    lost = np.abs(grey.astype(int) - grey_back)
    assert (lost > 4).mean() > 0.002  # (measured 0.005; an enlarged 640x360 render would have none)


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080), (1000, 700), (200, 90)])
def test_the_sky_stops_where_the_far_hills_cover_it_without_changing_a_pixel(size, monkeypatch):
    """Enlarging the sky only down to the far hills' lowest ridge point gives the very picture a whole-picture
    sky gives (sizes with and without a whole-number enlargement, several times of day)."""
    source = PatternSource(*size, seed=4)
    for t in (0.0, 13.3, 47.9, 88.8):
        partial = source.render(t)

        def whole_sky(t, rows):
            return cv2.resize(source.keyed_sky(t), (source.width, source.height), interpolation=cv2.INTER_LINEAR)

        monkeypatch.setattr(source, "_enlarged_sky", whole_sky)
        assert np.array_equal(source.render(t), partial), t
        monkeypatch.undo()


def test_the_sky_between_keys_is_a_blend_of_the_exact_skies_at_the_keys():
    """At a key time the drawn sky is the exact sky; between keys it lies between the two keys' skies (each
    cloud glides, nothing jumps), and it is the same for the same t whatever was drawn before."""
    source = PatternSource(320, 180, seed=5)
    key = SKY_KEY_S * 40
    assert np.abs(source.keyed_sky(key).astype(int) - source.sky(key)).max() <= 1
    a, b = source.sky(key).astype(int), source.sky(key + SKY_KEY_S).astype(int)
    mid = source.keyed_sky(key + SKY_KEY_S / 2).astype(int)
    assert np.all(mid >= np.minimum(a, b) - 1) and np.all(mid <= np.maximum(a, b) + 1)
    again = PatternSource(320, 180, seed=5).keyed_sky(key + SKY_KEY_S / 2)
    assert np.array_equal(again, mid)
