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


def test_a_finished_glide_is_its_target_itself():
    """Once a glide has arrived, it hands back the target mix itself (no new mix each frame), which gives the
    backends the same read-only style array to feed the model."""
    a, b = StyleMix.single(3, 0), StyleMix.single(3, 2, strength=0.7)
    glide = Glide(a, b, t0=0.0, duration=1.0)
    assert glide.at(0.5) is not b
    assert glide.at(1.0) is b and glide.at(5.0) is b
    assert b.as_array() is b.as_array() and not b.as_array().flags.writeable
    assert b.as_array().tolist() == [[0.0, 0.0, 1.0]]


def test_a_glide_to_no_style_still_ends_as_lerp_ends_it():
    """A glide to all-zero weights is not short-cut: it ends where lerp ends it (the start's weights, the target's
    strength), as before."""
    a, none = StyleMix.single(2, 0), StyleMix((0.0, 0.0), 0.0)
    end = Glide(a, none, t0=0.0, duration=1.0).at(2.0)
    assert end == a.lerp(none, 1.0) and end.strength == 0.0
