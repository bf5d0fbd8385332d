"""A real ``Director`` for server and page tests, made quick: its ``Interpreter`` uses a toy
bag-of-words embedding instead of the sentence model, and every posted engine event is kept in a list.

Swap in the real embedder (``tests/installation/conftest.py: interpreter``) where a test needs the
real meaning of words, e.g. to check that the engine's frames change.
"""

from __future__ import annotations

import hashlib

import numpy as np

from engine.manifest import StyleInfo
from installation.prompts.director import Director, DirectorSettings
from installation.prompts.interpreter import Interpreter
from installation.prompts.moderation import Moderator

STYLES = [
    StyleInfo("ink", "black ink wash, calm grey mist", ("ink", "mist", "calm")),
    StyleInfo("ember", "fire and warm orange glow", ("fire", "warm", "glow")),
    StyleInfo("moss", "green forest moss and ferns", ("forest", "green", "moss")),
]


# Varied words, to build prompts that the queue's near-duplicate check does not take for one another.
DISTINCT_WORDS = (
    "harbour",
    "dusk",
    "violet",
    "storm",
    "amber",
    "forest",
    "meadow",
    "glacier",
    "copper",
    "lantern",
    "velvet",
    "thunder",
    "orchid",
    "canyon",
    "marble",
    "ember",
    "willow",
    "comet",
    "saffron",
    "tide",
    "basalt",
    "heron",
    "cobalt",
    "dune",
    "fjord",
    "poppy",
    "quartz",
    "raven",
    "sable",
    "tundra",
    "umber",
    "vapour",
    "walnut",
    "yarrow",
    "zephyr",
    "aurora",
    "bramble",
    "cinder",
    "delta",
    "fennel",
    "garnet",
    "hollow",
    "indigo",
    "juniper",
    "kelp",
    "lagoon",
    "mangrove",
    "nebula",
    "obsidian",
    "pewter",
    "quill",
    "russet",
    "sierra",
    "thistle",
)


def toy_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """Each word hashed to a fixed unit direction, summed and L2-normalised: deterministic and instant."""
    rows = np.full((len(texts), dim), 1e-3, np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().replace(",", " ").replace(".", " ").split():
            seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
            rows[i] += np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_director(min_show_s: float = 0.0, moderator: Moderator | None = None, **settings) -> tuple[Director, list]:
    """A real Director (default block list, toy interpreter) and the list its engine events go to."""
    posted: list = []
    director = Director(
        posted.append,
        Interpreter(toy_embed, STYLES),
        moderator=moderator if moderator is not None else Moderator(),
        settings=DirectorSettings(min_show_s=min_show_s, tick_s=0.02, **settings),
    )
    return director, posted
