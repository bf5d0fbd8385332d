import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sinks.blend import BlendSpec, EdgeBlend, Zones, overlap_zones, ramp


def linear(pixels: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    return (pixels.astype(np.float64) / 255.0) ** gamma


@pytest.mark.parametrize("curve", [1.0, 2.0, 3.5])
def test_the_ramp_and_its_mirror_add_up_to_one(curve):
    """f(t) + f(1 - t) = 1 for every curve, from 0 at the edge to 1 inside."""
    t = np.linspace(0, 1, 101)
    assert np.allclose(ramp(t, curve) + ramp(1 - t, curve), 1.0)
    assert ramp(0.0, curve) == 0.0 and ramp(1.0, curve) == 1.0


@pytest.mark.parametrize("level", [40, 128, 230])
def test_two_blended_projectors_sum_to_a_flat_field_in_linear_light(level):
    """A flat grey through a right-edge and a left-edge blend: in the overlap the two lights add up to the grey."""
    gamma, zone = 2.2, 64
    a = EdgeBlend(320, 90, Zones(right=zone), curve=2.0, gamma=gamma)
    b = EdgeBlend(320, 90, Zones(left=zone), curve=2.0, gamma=gamma)
    grey = np.full((90, 320, 3), level, np.uint8)
    out_a, out_b = a.apply(grey, np.empty_like(grey)), b.apply(grey, np.empty_like(grey))
    total = linear(out_a[:, -zone:]) + linear(out_b[:, :zone])
    assert np.allclose(total, linear(grey[:, :zone]), rtol=0.03, atol=0.002)
    assert np.array_equal(out_a[:, :-zone], grey[:, :-zone])  # outside the zone, untouched
    assert linear(out_a[:, -1]).max() < 0.01 * linear(grey[0, 0]).max() + 0.002  # dark at the very edge


def test_gain_scales_each_colour_in_linear_light():
    """gain [1, 0.5, 0] halves green's light and removes blue, red unchanged."""
    blend = EdgeBlend(8, 8, Zones(), gain=(1.0, 0.5, 0.0))
    out = blend.apply(np.full((8, 8, 3), 200, np.uint8), np.empty((8, 8, 3), np.uint8))
    assert out[0, 0, 0] == 200 and out[0, 0, 2] == 0
    assert linear(out[0, 0, 1]) == pytest.approx(0.5 * linear(np.uint8(200)), rel=0.02)


def test_black_level_lifts_black_outside_the_blend_zone_only():
    """black_level lifts black where one projector shines alone; the overlap keeps black (two blacks add there)."""
    blend = EdgeBlend(64, 8, Zones(right=16), black_level=0.01)
    out = blend.apply(np.zeros((8, 64, 3), np.uint8), np.empty((8, 64, 3), np.uint8))
    assert linear(out[0, 0, 0]) == pytest.approx(0.01, rel=0.15)
    assert not out[:, -16:].any()


def test_zones_come_from_the_regions_overlap():
    """Two regions overlapping by 240 px: the left one blends its right edge, the right one its left edge."""
    regions = [(0, 0, 1920, 1080), (1680, 0, 1920, 1080)]
    assert overlap_zones(regions, 0) == Zones(right=240)
    assert overlap_zones(regions, 1) == Zones(left=240)
    assert overlap_zones([(0, 0, 100, 100), (100, 0, 100, 100)], 0) == Zones()  # touching, not overlapping


def test_zones_are_scaled_to_the_window():
    """A spec in canvas pixels builds a blend whose zone is scaled to the window's pixels."""
    built = BlendSpec(Zones(left=100)).build(960, 540, (1920, 1080))
    assert built.zones == Zones(left=50)


def test_zones_wider_than_the_picture_are_refused():
    """Zones that do not fit the picture are a ConfigError, not a crash per frame."""
    with pytest.raises(ConfigError, match="do not fit"):
        EdgeBlend(100, 10, Zones(left=60, right=60))
