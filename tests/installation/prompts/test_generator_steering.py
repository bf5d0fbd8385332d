import math
import zlib

import numpy as np
import pytest

from installation.prompts.generator_steering import latent_for_text


def tiny_embedding(text: str, dim: int = 48) -> np.ndarray:
    """A deterministic stand-in for a sentence model: the normalised sum of one fixed vector per word."""
    total = np.zeros(dim)
    for word in text.lower().split():
        total += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(dim)
    return total / np.linalg.norm(total)


def test_same_words_same_latent():
    """The same prompt always lands on the same latent, in a fresh call as in the first."""
    a = latent_for_text(tiny_embedding("a stormy sea at night"), 64)
    b = latent_for_text(tiny_embedding("a stormy sea at night"), 64)
    assert a.dtype == np.float32 and a.shape == (64,)
    assert np.array_equal(a, b)


def test_similar_prompts_land_nearer_than_unrelated_ones():
    """Prompts sharing most words are closer in latent space than prompts sharing none."""
    base = latent_for_text(tiny_embedding("a stormy sea at night under the moon"), 64)
    similar = latent_for_text(tiny_embedding("a stormy sea at night under a moon"), 64)
    unrelated = latent_for_text(tiny_embedding("golden wheat fields with poppies in summer"), 64)
    assert np.linalg.norm(base - similar) < 0.5 * np.linalg.norm(base - unrelated)


def test_latents_have_the_priors_length():
    """Every latent is scaled to sqrt(Z), the typical length of a draw from N(0, I)."""
    for text in ("fire", "quiet blue morning"):
        z = latent_for_text(tiny_embedding(text), 100)
        assert np.linalg.norm(z) == pytest.approx(math.sqrt(100), rel=1e-5)


def test_the_seed_chooses_the_projection():
    """Another seed gives another (fixed) map from words to latents; unnormalised input is normalised."""
    e = tiny_embedding("lanterns in the fog")
    assert not np.allclose(latent_for_text(e, 32, seed=0), latent_for_text(e, 32, seed=1))
    assert np.allclose(latent_for_text(e, 32), latent_for_text(3.0 * e, 32))


def test_an_empty_or_zero_embedding_is_refused():
    """A zero, empty or non-finite embedding is a ValueError, not a silent NaN latent."""
    for bad in (np.zeros(8), np.array([]), np.array([np.nan, 1.0])):
        with pytest.raises(ValueError):
            latent_for_text(bad, 16)
