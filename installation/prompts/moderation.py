"""Moderation of visitors' prompts, without sockets: a block list that sees through disguises, and an
optional check of meaning against blocked concepts.

A prompt is folded (NFKC, case, accents, look-alike letters, invisible characters) and searched for
each blocked phrase as a whole word or phrase. Each letter of a phrase also matches its leetspeak
stand-ins (``0 -> o``, ``1 -> i/l``, ``3 -> e``, ``4/@ -> a``, ``5/$ -> s``, ``7 -> t``), may be
repeated ("baaad"), and may be split from its neighbours by a few spaces or punctuation marks
("b a d", "b.a.d"). Whole words only, so blocking "ass" leaves "assassin" and "classic" alone. A
phrase ending in ``*`` also matches longer words that begin with it ("fuck*" -> "fucking").

With ``embed`` (texts -> L2-normalised rows) and ``blocked_concepts``, a prompt whose embedding
is within ``threshold`` cosine similarity of a blocked concept is declined too.

The reason a visitor reads is neutral and never repeats the word that was matched.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

DEFAULT_BLOCKLIST = Path(__file__).resolve().parent / "data" / "blocklist_en.txt"
DECLINED = "That prompt can't be shown here. Try describing a scene, a mood or a colour."

Embed = Callable[[list[str]], np.ndarray]

# Letters that commonly stand in for others. Each phrase letter matches itself or these.
LEET: dict[str, str] = {"a": "4@", "b": "8", "e": "3", "g": "9", "i": "1", "l": "1", "o": "0", "s": "5$", "t": "7"}

# Look-alike letters from other scripts that NFKC leaves alone (Cyrillic and Greek, lower case).
LOOKALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ɡ": "g", "ı": "i", "ɑ": "a", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "β": "b", "η": "n", "μ": "u", "ω": "w", "ς": "c",
})

_SEP = r"(?:[^\w@$]|_)"  # what may sit between the letters of a disguised word
_GAP = _SEP + "{0,3}"
_WORDISH_BEFORE = r"(?<![^\W_])(?<![@$])"  # not inside a word (letters, digits, and leet symbols)
_WORDISH_AFTER = r"(?![^\W_])(?![@$])"
_WORD_TAIL = r"(?:[^\W_]|[@$])*"
_PLURAL = "(?:[e3]?[s5$]+)?"


@dataclass(frozen=True)
class ModerationResult:
    allowed: bool
    reason: str = ""  # for the visitor: neutral, never the matched word
    rule: str = ""  # for the operator: "", "blocklist" or "semantic"
    score: float = 0.0  # highest similarity to a blocked concept, when the semantic check ran


class ModerationError(EngineError):
    """The semantic check could not run (the embedding function failed or gave the wrong shape)."""


def fold(text: str) -> str:
    """Text as the block list sees it: NFKC, case-folded, accents and invisible characters removed,
    look-alike letters mapped to Latin ones, whitespace collapsed. Digits and symbols are kept."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text)
                   if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    text = text.translate(LOOKALIKES)
    return " ".join(text.split())


def _letter(c: str) -> str:
    return "[" + re.escape(c + LEET.get(c, "")) + "]"


def phrase_pattern(phrase: str) -> str:
    """The regular expression (over folded text) for one blocked phrase; ``ConfigError`` if it has no letters."""
    prefix = phrase.strip().endswith("*")
    folded = fold(phrase.strip().rstrip("*"))
    chars = [c for c in folded if c.isalnum()]
    if not chars:
        raise ConfigError(f"blocked phrase {phrase!r}: expected at least one letter")
    runs: list[tuple[str, int]] = []
    for c in chars:  # "ass" -> [("a", 1), ("s", 2)]: a doubled letter must appear at least twice
        if runs and runs[-1][0] == c:
            runs[-1] = (c, runs[-1][1] + 1)
        else:
            runs.append((c, 1))
    units = []
    for i, (c, n) in enumerate(runs):
        # Possessive (no backtracking, so floods of "s s s s" stay cheap) unless the next letter
        # shares a stand-in with this one ("1" is both i and l): then "ki11" needs the backtrack.
        nxt = runs[i + 1][0] if i + 1 < len(runs) else ""
        shares = bool(set(c + LEET.get(c, "")) & set(nxt + LEET.get(nxt, ""))) if nxt else False
        cls = _letter(c)
        units.append(f"{cls}(?:{_GAP}{cls}){{{n - 1},}}" + ("" if shares else "+"))
    tail = _WORD_TAIL if prefix else _PLURAL
    return _WORDISH_BEFORE + _GAP.join(units) + tail + _WORDISH_AFTER


def load_blocklist(path: str | Path) -> list[str]:
    """Phrases from a block-list file: one a line, ``#`` starts a comment, blank lines are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the block list ({exc.strerror or exc})") from exc
    phrases = []
    for number, line in enumerate(lines, 1):
        phrase = line.split("#", 1)[0].strip()
        if not phrase:
            continue
        try:
            phrase_pattern(phrase)
        except ConfigError as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
        phrases.append(phrase)
    return phrases


class Moderator:
    """``check(text)`` -> ``ModerationResult``. Phrases and concepts can be changed while it runs
    (from any thread): each change builds a new matcher and swaps it in whole."""

    def __init__(self, phrases: Iterable[str] | None = None, *, default_list: bool = True,
                 embed: Embed | None = None, blocked_concepts: Iterable[str] = (), threshold: float = 0.6,
                 reason: str = DECLINED) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"Moderator threshold: expected a cosine similarity in [-1, 1], got {threshold!r}")
        concepts = [c.strip() for c in blocked_concepts if c.strip()]
        if concepts and embed is None:
            raise ConfigError("Moderator: blocked_concepts need an embed function")
        self.embed = embed
        self.threshold = float(threshold)
        self.reason = reason
        self._lock = threading.Lock()
        self._phrases: dict[str, str] = {}  # phrase as given -> its pattern
        for phrase in (load_blocklist(DEFAULT_BLOCKLIST) if default_list else []) + list(phrases or []):
            self._phrases.setdefault(self._key(phrase), phrase_pattern(phrase))
        self._matcher = self._compile(self._phrases)
        self._concepts: tuple[str, ...] = tuple(dict.fromkeys(concepts))
        self._concept_vecs: np.ndarray | None = None

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> Moderator:
        """A moderator with the phrases of ``path`` (in addition to the default list unless ``default_list=False``)."""
        return cls(load_blocklist(path), **kwargs)

    # -- checking ------------------------------------------------------------------------------------
    def check(self, text: str) -> ModerationResult:
        if self.blocked_phrase_in(text):
            return ModerationResult(False, self.reason, "blocklist")
        if self.embed is not None and self._concepts:
            score = self.concept_similarity(text)
            if score >= self.threshold:
                return ModerationResult(False, self.reason, "semantic", score)
            return ModerationResult(True, score=score)
        return ModerationResult(True)

    def blocked_phrase_in(self, text: str) -> bool:
        matcher = self._matcher  # one read: a concurrent change swaps in a whole new matcher
        return matcher is not None and matcher.search(fold(text)) is not None

    def concept_similarity(self, text: str) -> float:
        """Highest cosine similarity of ``text`` to a blocked concept (-1 when there are none)."""
        concepts, vecs = self._concepts, self._concept_vecs
        if not concepts:
            return -1.0
        if vecs is None:
            vecs = self._embed(list(concepts))
            with self._lock:
                if self._concepts == concepts:
                    self._concept_vecs = vecs
        query = self._embed([" ".join(text.split())])[0]
        if query.shape[0] != vecs.shape[1]:
            raise ModerationError(f"embedding sizes differ: {query.shape[0]} for the prompt, "
                                  f"{vecs.shape[1]} for the concepts")
        return float(np.max(vecs @ query))

    def _embed(self, texts: list[str]) -> np.ndarray:
        assert self.embed is not None
        try:
            vecs = np.asarray(self.embed(texts), dtype=np.float32)
        except Exception as exc:
            raise ModerationError(f"the embedding function failed: {exc}") from exc
        if vecs.ndim != 2 or vecs.shape[0] != len(texts) or not np.all(np.isfinite(vecs)):
            raise ModerationError(f"the embedding function returned shape {vecs.shape} for {len(texts)} texts")
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-8)

    # -- changing, at run time -----------------------------------------------------------------------
    @property
    def phrases(self) -> tuple[str, ...]:
        return tuple(sorted(self._phrases))

    @property
    def concepts(self) -> tuple[str, ...]:
        return self._concepts

    def add_phrase(self, phrase: str) -> bool:
        """Block ``phrase`` from now on; False if it was already blocked. ``ConfigError`` if it has no letters."""
        pattern = phrase_pattern(phrase)
        key = self._key(phrase)
        with self._lock:
            if key in self._phrases:
                return False
            phrases = {**self._phrases, key: pattern}
            self._matcher, self._phrases = self._compile(phrases), phrases
        log.info("moderation: a phrase was added to the block list (%d phrases)", len(phrases))
        return True

    def remove_phrase(self, phrase: str) -> bool:
        """Stop blocking ``phrase``; False if it was not blocked."""
        key = self._key(phrase)
        with self._lock:
            if key not in self._phrases:
                return False
            phrases = {k: v for k, v in self._phrases.items() if k != key}
            self._matcher, self._phrases = self._compile(phrases), phrases
        log.info("moderation: a phrase was removed from the block list (%d phrases)", len(phrases))
        return True

    def add_concept(self, concept: str) -> bool:
        """Decline prompts that mean something close to ``concept``; needs ``embed``."""
        concept = concept.strip()
        if self.embed is None:
            raise ConfigError("Moderator: blocked concepts need an embed function")
        if not concept:
            raise ConfigError("blocked concept: expected some words")
        with self._lock:
            if concept in self._concepts:
                return False
            self._concepts, self._concept_vecs = self._concepts + (concept,), None
        return True

    def remove_concept(self, concept: str) -> bool:
        concept = concept.strip()
        with self._lock:
            if concept not in self._concepts:
                return False
            self._concepts = tuple(c for c in self._concepts if c != concept)
            self._concept_vecs = None
        return True

    @staticmethod
    def _key(phrase: str) -> str:
        return " ".join(phrase.strip().casefold().split())

    @staticmethod
    def _compile(phrases: dict[str, str]) -> re.Pattern[str] | None:
        if not phrases:
            return None
        return re.compile("|".join(f"(?:{p})" for p in phrases.values()))
