"""From words to a look: a prompt (and its expansions) -> a ``StyleMix`` plus render parameters.

Each style of the model is described by its manifest entry (description, tags, artwork, artist);
those texts are embedded once. A prompt's embedding is compared with them; a softmax with a
temperature over the top-k similarities gives the mix. A few words also steer render parameters:
how strongly to stylise, warmth of the colour, and how much temporal smoothing.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.manifest import StyleInfo
from engine.style import StyleMix

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], np.ndarray]

# word -> (parameter, value); the last matching word wins
RENDER_WORDS: dict[str, tuple[str, float]] = {
    **{w: ("strength", 0.55) for w in ("subtle", "faint", "gentle", "soft", "hint", "light", "delicate", "slight")},
    **{w: ("strength", 1.0) for w in ("intense", "vivid", "bold", "strong", "wild", "extreme", "dramatic")},
    **{w: ("warmth", 0.6) for w in ("warm", "sunset", "golden", "fire", "sunny", "autumn", "amber", "cozy")},
    **{w: ("warmth", -0.6) for w in ("cold", "icy", "winter", "frozen", "cool", "moonlit", "frost", "arctic")},
    **{w: ("smoothing", 0.8) for w in ("calm", "still", "peaceful", "serene", "quiet", "slow", "dreamy")},
    **{w: ("smoothing", 0.2) for w in ("chaotic", "energetic", "fast", "restless", "frantic", "storm", "stormy")},
}


@dataclass(frozen=True)
class Interpretation:
    mix: StyleMix
    params: dict = field(default_factory=dict)  # strength, warmth (-1..1), smoothing (0..1)
    scores: dict = field(default_factory=dict)  # style name -> cosine similarity
    text: str = ""


def style_text(style: StyleInfo) -> str:
    parts = [style.description, ", ".join(style.tags)]
    if style.artwork:
        parts.append(f"{style.artwork} by {style.artist}" if style.artist else style.artwork)
    return ". ".join(p for p in parts if p)


def render_params(text: str, default_strength: float = 1.0) -> dict:
    params = {"strength": default_strength, "warmth": 0.0, "smoothing": 0.5}
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in RENDER_WORDS:
            key, value = RENDER_WORDS[word]
            params[key] = value
    return params


class Interpreter:
    def __init__(
        self, embed: Embed, styles: list[StyleInfo], temperature: float = 0.05, top_k: int = 3, cache_size: int = 512
    ) -> None:
        if not styles:
            raise ValueError("the interpreter needs at least one style")
        self.embed = embed
        self.styles = list(styles)
        self.names = [s.name for s in styles]
        self.temperature = temperature
        self.top_k = max(1, min(top_k, len(styles)))
        self._style_vecs = embed([style_text(s) for s in styles])
        self._cache: OrderedDict[tuple, Interpretation] = OrderedDict()
        self._cache_size = cache_size

    def tune(self, temperature: float, top_k: int) -> None:
        """New softmax temperature and top-k; earlier interpretations are forgotten (they used the old ones)."""
        self.temperature = temperature
        self.top_k = max(1, min(top_k, len(self.styles)))
        self._cache.clear()

    def similarities(self, texts: list[str], weights: list[float] | None = None) -> np.ndarray:
        """Cosine similarity of each style to the (weighted mean of the) texts' embeddings."""
        vecs = self.embed(texts)
        w = np.asarray(weights if weights else [1.0] * len(texts), np.float32)[:, None]
        query = (vecs * w).sum(0)
        query /= max(float(np.linalg.norm(query)), 1e-8)
        return self._style_vecs @ query

    def interpret(
        self, text: str, expansions: list[str] | None = None, default_strength: float = 1.0
    ) -> Interpretation:
        key = (text, tuple(expansions or ()), default_strength)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        texts = [text] + list(expansions or [])
        weights = [2.0] + [1.0] * (len(texts) - 1)  # the visitor's own words count double
        sims = self.similarities(texts, weights)
        top = np.argsort(-sims)[: self.top_k]
        logits = (sims[top] - sims[top].max()) / self.temperature
        probs = np.exp(logits) / np.exp(logits).sum()
        weights_all = np.zeros(len(self.styles), np.float64)
        weights_all[top] = probs
        params = render_params(" ".join(texts), default_strength)
        result = Interpretation(
            StyleMix(tuple(float(w) for w in weights_all), params["strength"]),
            params,
            {n: round(float(s), 4) for n, s in zip(self.names, sims)},
            text,
        )
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def ranking(self, text: str) -> list[str]:
        sims = self.similarities([text])
        return [self.names[i] for i in np.argsort(-sims)]
