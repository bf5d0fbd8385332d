import math

import pytest

from engine.errors import ConfigError
from engine.style import StyleMix
from engine.transition import Glide


def test_mix_is_normalised_and_named():
    """Weights are normalised to sum to 1 and can be given by style name."""
    mix = StyleMix.from_names(["a", "b", "c"], {"a": 2.0, "c": 2.0})
    assert mix.weights == (0.5, 0.0, 0.5)
    assert mix.named(["a", "b", "c"]) == {"a": 0.5, "b": 0.0, "c": 0.5}


@pytest.mark.parametrize("weights,strength", [((1.0, -1.0), 1.0), ((math.nan, 1.0), 1.0), ((1.0, 0.0), 1.5)])
def test_invalid_mix_is_rejected(weights, strength):
    """Negative or NaN weights and strengths outside 0..1 are ConfigErrors."""
    with pytest.raises(ConfigError):
        StyleMix(weights, strength)


def test_unknown_style_name_lists_the_known_ones():
    """Asking for a style the model does not have names the styles it does have."""
    with pytest.raises(ConfigError, match=r"unknown style\(s\) \['cubism'\].*'a', 'b'"):
        StyleMix.from_names(["a", "b"], {"cubism": 1.0})


def test_glide_reaches_target_in_configured_time_without_jumps():
    """A glide starts at the old mix, moves monotonically and smoothly, and ends at the target on time."""
    a, b = StyleMix.single(2, 0), StyleMix.single(2, 1, strength=0.5)
    glide = Glide(a, b, t0=10.0, duration=2.0)
    samples = [glide.at(10.0 + i * 0.02).weights[1] for i in range(101)]
    assert samples[0] == 0.0 and samples[-1] == pytest.approx(1.0)
    assert all(y >= x for x, y in zip(samples, samples[1:]))
    assert max(y - x for x, y in zip(samples, samples[1:])) < 0.05  # no jump larger than 5% in 20 ms
    assert not glide.done(11.99) and glide.done(12.0)
    assert glide.at(12.0).strength == pytest.approx(0.5)


def test_glide_from_unstyled_fades_strength_not_weights():
    """Gliding from 'no style' to a style fades in the target style rather than inventing a mix."""
    none = StyleMix((0.0, 0.0), 0.0)
    target = StyleMix.single(2, 1)
    mid = Glide(none, target, 0.0, 1.0, "linear").at(0.5)
    assert mid.weights == (0.0, 1.0) and mid.strength == pytest.approx(0.5)
