"""Words -> a place in the generator's latent space, so a prompt can steer the dream.

A fixed random projection (seeded, so every machine and every restart agrees) takes the unit
sentence embedding to latent space, and the result is scaled to the length typical of the latent
prior N(0, I), sqrt(Z). Random projections nearly preserve angles (Johnson-Lindenstrauss), so the
map is deterministic (the same words give the same latent) and continuous (similar words give
nearby latents, unrelated words land about as far apart as two random latents).
"""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=8)
def _projection(embedding_dim: int, latent_dim: int, seed: int) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((latent_dim, embedding_dim))
    matrix.flags.writeable = False
    return matrix


def latent_for_text(embedding: np.ndarray, latent_dim: int, seed: int = 0) -> np.ndarray:
    """The latent (float32, ``latent_dim`` numbers, length sqrt(latent_dim)) for a sentence embedding."""
    e = np.asarray(embedding, dtype=np.float64).reshape(-1)
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    norm = float(np.linalg.norm(e))
    if e.size == 0 or not math.isfinite(norm) or norm == 0.0:
        raise ValueError("the embedding must be a non-empty vector of finite numbers, not all zero")
    z = _projection(e.size, latent_dim, seed) @ (e / norm)
    length = float(np.linalg.norm(z))
    if length == 0.0:  # only for a projection orthogonal to the embedding: vanishingly unlikely
        return np.zeros(latent_dim, np.float32)
    return (z * (math.sqrt(latent_dim) / length)).astype(np.float32)
