"""Moderation of visitors' prompts, without sockets: a block list that sees through disguises, an allow-list
for the innocent words that contain a blocked string, and an optional check of meaning against blocked concepts.

A prompt is first folded (``fold``): Unicode NFKC, case folded, accents and other marks dropped, invisible and
filler characters removed (format characters, Hangul fillers, the Braille blank), every other letter reduced to
the ASCII letter it looks like (the Unicode TS #39 confusables data from ``confusable_homoglyphs``, plus a small
fold by character name for what that data leaves alone: small capitals, regional-indicator and negative squared
letters), whitespace collapsed. Digits and symbols are kept, for leetspeak.

Each blocked phrase is then searched for in the folded text. Each letter of a phrase also matches its leetspeak
stand-ins (``LEET``: ``0 -> o``, ``1 -> i/l``, ``3 -> e``, ``4/@ -> a``, ``5/$ -> s``, ``7 -> t``, ``v -> u``,
``! -> i``, ``* -> a vowel``...), may be repeated ("baaad"), and may be split from its neighbours by a few spaces
or punctuation marks ("b a d", "b.a.d", "b - - a - - d"). A plain phrase matches a whole word with its
inflections ("bad", "bads", "badder", "badding"), so blocking "ass" leaves "assassin" and "classic" alone.
Glob stars widen it: ``word*`` also matches longer words that begin with it, ``*word`` words that end with it,
``*word*`` any word that contains it ("clusterfuck", "horseshit"); inside a word the letters must be contiguous,
so "push it" never reads as "shit".

A match that lies inside an allow-listed word (``DEFAULT_ALLOWLIST``: Scunthorpe, shiitake, cumin, spicy...)
is ignored. Allow-listed words are matched literally after folding (no leetspeak, no gaps), so "the rapist"
is not excused by "therapist".

With ``embed`` (texts -> L2-normalised rows) and ``blocked_concepts``, a prompt whose embedding is within
``threshold`` cosine similarity of a blocked concept is declined too (``DEFAULT_CONCEPTS`` ships a set).

The reason a visitor reads is neutral and never repeats the word that was matched.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_BLOCKLIST = DATA / "blocklist_en.txt"
DEFAULT_ALLOWLIST = DATA / "allowlist_en.txt"
DEFAULT_CONCEPTS = DATA / "concepts_en.txt"
DECLINED = "That prompt can't be shown here. Try describing a scene, a mood or a colour."

Embed = Callable[[list[str]], np.ndarray]

# Characters that commonly stand in for a letter. Each phrase letter matches itself or these
# ("*" hides a vowel: "f*ck"; an "i" may be a folded capital I, which looks like l: "sIut").
# Multi-letter stand-ins are in LEET_SEQ.
LEET: dict[str, str] = {
    "a": "4@*",
    "b": "8",
    "c": "(<",
    "e": "3*",
    "g": "96",
    "i": "1!|*",
    "l": "1|i",
    "o": "0*",
    "s": "5$",
    "t": "7+",
    "u": "v*",
}
LEET_SEQ: dict[str, tuple[str, ...]] = {"f": ("ph",)}

# Default-ignorable or blank characters that are letters or symbols, so not caught by category:
# Hangul fillers, the Braille blank, Mongolian vowel separator, Khmer inherent vowels.
FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc", "Co", "Cn"})
_LATIN_BY_NAME = re.compile(
    r"^(?:LATIN LETTER SMALL CAPITAL|REGIONAL INDICATOR SYMBOL LETTER|NEGATIVE (?:SQUARED|CIRCLED) LATIN CAPITAL "
    r"LETTER|SQUARED LATIN CAPITAL LETTER|LATIN (?:SMALL|CAPITAL) LETTER) ([A-Z])$"
)


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table that works out each non-ASCII character's fold on first sight and keeps it."""

    def __init__(self, confusables: dict[str, list[dict[str, str]]]) -> None:
        super().__init__({i: chr(i) for i in range(128) if i not in (0x7F,) and (i >= 32 or chr(i) in "\t\n\r")})
        self._confusables = confusables
        self._lock = threading.Lock()
        # Two-faced letters: their compatibility form is one ASCII letter, their look another (the long s
        # "ſ" is an s but looks like an f). The block list reads a prompt both ways.
        self.two_faced: dict[int, str] = {}
        for letter in "abcdefghijklmnopqrstuvwxyz":
            for entry in confusables.get(letter, ()):
                c = entry["c"]
                if len(c) == 1 and not c.isascii() and self._ascii(c) not in ("", letter):
                    self.two_faced[ord(c)] = letter

    def __missing__(self, code: int) -> str:
        folded = self._fold(chr(code))
        with self._lock:  # translate() may run on several threads; the value is the same either way
            self[code] = folded
        return folded

    def _fold(self, c: str) -> str:
        if c in FILLERS or unicodedata.category(c) in _DROPPED_CATEGORIES:
            return " " if c in "\x0b\x0c\x1c\x1d\x1e\x1f\x85" else ""
        if unicodedata.category(c).startswith("Z"):
            return " "
        frontier, seen = [c], {c}
        for _ in range(3):  # a breadth-first walk: the character itself, its look-alikes, theirs
            found = [f for f in (self._ascii(x) for x in frontier) if f]
            if found:
                return min(found, key=lambda f: (not f.isalpha(), len(f)))
            frontier = [e["c"] for x in frontier for e in self._confusables.get(x, ()) if e["c"] not in seen]
            seen.update(frontier)
        return c

    @staticmethod
    def _ascii(s: str) -> str:
        """``s`` as lower-case ASCII letters/digits if it is one dressed up (accents, a name), else ""."""
        bare = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
        if bare.isascii() and bare.isalnum():
            return bare.lower()
        if len(s) == 1:
            match = _LATIN_BY_NAME.match(unicodedata.name(s, ""))
            if match:
                return match.group(1).lower()
        return ""


_fold_table: _FoldTable | None = None


def _table() -> _FoldTable:
    global _fold_table
    if _fold_table is None:
        try:
            with resources.files("confusable_homoglyphs").joinpath("confusables.json").open(encoding="utf-8") as f:
                data = json.load(f)
        except (ModuleNotFoundError, OSError) as exc:
            raise ConfigError("the Unicode confusables data is missing: pip install confusable-homoglyphs") from exc
        _fold_table = _FoldTable(data)
    return _fold_table


@dataclass(frozen=True)
class ModerationResult:
    allowed: bool
    reason: str = ""  # for the visitor: neutral, never the matched word
    rule: str = ""  # for the operator: "", "blocklist", "semantic" or "semantic-unavailable" (allowed unchecked)
    score: float = 0.0  # highest similarity to a blocked concept, when the semantic check ran


class ModerationError(EngineError):
    """The semantic check could not run (the embedding function failed or gave the wrong shape)."""


def fold(text: str) -> str:
    """Text as the block list sees it: NFKC, case-folded, marks and invisible characters removed, look-alike
    letters from any script mapped to the ASCII letters they imitate, whitespace collapsed. Digits and symbols
    are kept."""
    table = _table()
    # Look-alikes first, as TS #39 does: NFKC and casefold() turn some into other letters (the c-like
    # lunate sigma becomes a final sigma, then an o-like sigma). Then again for what those two produce.
    text = unicodedata.normalize("NFKC", text.translate(table)).casefold().translate(table)
    return " ".join(text.split())


def readings(text: str) -> list[str]:
    """``fold(text)``, and where the text has two-faced letters (an "ſ" is an s that looks like an f), also the
    fold of how it looks: a prompt is blocked when either reading is."""
    folded = fold(text)
    two_faced = _table().two_faced
    if not any(ord(c) in two_faced for c in text):
        return [folded]
    return [folded, fold(text.translate(two_faced))]


_SEP = r"(?:[^\w]|_)"  # what may sit between the letters of a disguised word
_GAP = _SEP + "{0,8}"
_BEFORE = r"(?<![^\W_])"  # not inside a word: no letter or digit just before
_AFTER = r"(?![^\W_])"
_WORD_CHARS = r"(?:[^\W_]|[@$!|*+])*"
# What a whole word may add: plural, past, -ing, -er, -y ("shits", "shitting", "shitty", "shitter").
_INFLECTION = "(?:[e3]?[s5$z]+|[i1!]ng?|[i1!]n'|[e3]d|d|[e3]r[s5$z]?|y|[i1!][e3][sd5$]?|[i1!][e3]r|[i1!][e3][s5$]t)?"


def _letter(c: str, runs: int, gaps: bool, possessive: bool) -> str:
    cls = "[" + re.escape(c + LEET.get(c, "")) + "]"
    alts = [cls, *map(re.escape, LEET_SEQ.get(c, ()))]
    one = cls if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    gap = _GAP if gaps else ""
    return f"{one}(?:{gap}{one}){{{runs - 1},}}" + ("+" if possessive else "")


def _letters(chars: list[str], gaps: bool) -> str:
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
        units.append(_letter(c, n, gaps, possessive=not shares))
    return (_GAP if gaps else "").join(units)


def phrase_pattern(phrase: str) -> str:
    """The regular expression (over folded text) for one blocked phrase; ``ConfigError`` if it has no letters.

    ``word`` matches a whole word and its inflections, ``word*`` also longer words beginning with it, ``*word``
    words ending with it, ``*word*`` words containing it."""
    raw = phrase.strip()
    prefix, suffix = raw.endswith("*"), raw.startswith("*")
    chars = [c for c in fold(raw.strip("*")) if c.isalnum()]
    if not chars:
        raise ConfigError(f"blocked phrase {phrase!r}: expected at least one letter")
    tail = _WORD_CHARS if prefix else _INFLECTION
    whole = _BEFORE + _letters(chars, gaps=True) + tail + _AFTER
    if not suffix:
        return whole
    end = _WORD_CHARS if prefix else _INFLECTION + _AFTER
    inside = _letters(chars, gaps=False) + end
    # Spelled out at the end of a word ("horsef--u--c--k"): a separator between every two letters, so
    # innocent neighbours ("push it") never qualify.
    spelled = (_SEP + "{1,8}").join(_letter(c, 1, False, False) for c in chars) + end
    return f"{whole}|{inside}|{spelled}"


def _read_list(path: Path, what: str) -> list[tuple[int, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    entries = []
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append((number, entry))
    return entries


def load_blocklist(path: str | Path) -> list[str]:
    """Phrases from a block-list file: one a line, ``#`` starts a comment, blank lines are skipped."""
    path = Path(path)
    phrases = []
    for number, phrase in _read_list(path, "block list"):
        try:
            phrase_pattern(phrase)
        except ConfigError as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
        phrases.append(phrase)
    return phrases


def load_allowlist(path: str | Path) -> list[str]:
    """Words from an allow-list file (same format as a block list); each must be one word of letters."""
    path = Path(path)
    words = []
    for number, word in _read_list(path, "allow list"):
        if not re.fullmatch(r"[^\W\d_]+(?:'[^\W\d_]+)?", fold(word)):
            raise ConfigError(f"{path}:{number}: allowed word {word!r}: expected one word of letters")
        words.append(word)
    return words


def load_concepts(path: str | Path) -> list[str]:
    """Blocked concepts from a file: one short phrase a line, ``#`` starts a comment."""
    return [concept for _, concept in _read_list(Path(path), "concept list")]


def allow_pattern(words: Iterable[str]) -> str | None:
    """The regular expression for allow-listed words: literal after folding, whole words, with a plural."""
    folded = sorted({fold(w) for w in words if fold(w)}, key=len, reverse=True)
    if not folded:
        return None
    return _BEFORE + "(?:" + "|".join(map(re.escape, folded)) + ")(?:e?s|'s)?" + _AFTER


@dataclass(frozen=True)
class _Matcher:
    block: re.Pattern[str] | None
    allow: re.Pattern[str] | None

    def blocked(self, folded: str) -> bool:
        if self.block is None:
            return False
        match = self.block.search(folded)
        if match is None or self.allow is None:
            return match is not None
        allowed = [m.span() for m in self.allow.finditer(folded)]
        while match is not None:
            if not any(a <= match.start() and match.end() <= b for a, b in allowed):
                return True
            match = self.block.search(folded, match.start() + 1)
        return False


class Moderator:
    """``check(text)`` -> ``ModerationResult``. Phrases and concepts can be changed while it runs
    (from any thread): each change builds a new matcher and swaps it in whole.

    ``phrases`` are added to the shipped block list (unless ``default_list=False``); ``allowed_words`` to the
    shipped allow-list (unless ``default_allowlist=False``). ``embed``, ``blocked_concepts`` and ``threshold``
    drive the semantic check, which runs only for prompts the block list let through."""

    def __init__(
        self,
        phrases: Iterable[str] | None = None,
        *,
        default_list: bool = True,
        embed: Embed | None = None,
        blocked_concepts: Iterable[str] = (),
        threshold: float = 0.6,
        reason: str = DECLINED,
        allowed_words: Iterable[str] = (),
        default_allowlist: bool = True,
    ) -> None:
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
        self._edits: dict[str, tuple[str, bool]] = {}  # key -> (phrase, added?): the operator's, since start
        for phrase in (load_blocklist(DEFAULT_BLOCKLIST) if default_list else []) + list(phrases or []):
            self._phrases.setdefault(self._key(phrase), phrase_pattern(phrase))
        allowed = (load_allowlist(DEFAULT_ALLOWLIST) if default_allowlist else []) + list(allowed_words)
        self._allowed: tuple[str, ...] = tuple(dict.fromkeys(fold(w) for w in allowed if fold(w)))
        allow = allow_pattern(self._allowed)
        self._allow = re.compile(allow) if allow else None
        self._matcher = self._compile(self._phrases)
        self._concepts: tuple[str, ...] = tuple(dict.fromkeys(concepts))
        self._concept_vecs: np.ndarray | None = None
        self._semantic_failing = False  # said once at WARNING, again when it recovers

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Moderator:
        """A moderator with the phrases of ``path`` (in addition to the default list unless ``default_list=False``)."""
        return cls(load_blocklist(path), **kwargs)

    # -- checking ------------------------------------------------------------------------------------
    def check(self, text: str) -> ModerationResult:
        if self.blocked_phrase_in(text):
            return ModerationResult(False, self.reason, "blocklist")
        if self.embed is not None and self._concepts:
            try:
                score = self.concept_similarity(text)
            except ModerationError as exc:
                # The block list has spoken; a broken model must not stop the show or flood the log.
                if not self._semantic_failing:
                    log.warning("moderation: the semantic check is not running, only the block list is (%s)", exc)
                self._semantic_failing = True
                return ModerationResult(True, rule="semantic-unavailable")
            if self._semantic_failing:
                log.warning("moderation: the semantic check runs again")
                self._semantic_failing = False
            if score >= self.threshold:
                return ModerationResult(False, self.reason, "semantic", score)
            return ModerationResult(True, score=score)
        return ModerationResult(True)

    def blocked_phrase_in(self, text: str) -> bool:
        matcher = self._matcher  # one read: a concurrent change swaps in a whole new matcher
        return any(matcher.blocked(reading) for reading in readings(text))

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
            raise ModerationError(
                f"embedding sizes differ: {query.shape[0]} for the prompt, {vecs.shape[1]} for the concepts"
            )
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
        unit: np.ndarray = vecs / np.maximum(norms, 1e-8)
        return unit

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
            self._edits[key] = (phrase, True)
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
            self._edits[key] = (phrase, False)
        log.info("moderation: a phrase was removed from the block list (%d phrases)", len(phrases))
        return True

    def keep_edits_of(self, old: Moderator) -> int:
        """Apply the phrases ``old`` was given or relieved of while it ran (the operator's block and unblock)
        to this one, which replaces it after a config reload: the panel's edits outlive a reload. Returns
        how many changed this list."""
        with old._lock:
            edits = list(old._edits.values())
        changed = sum(self.add_phrase(p) if added else self.remove_phrase(p) for p, added in edits)
        if edits:
            log.info("moderation: %d of the operator's %d block-list edits carried over", changed, len(edits))
        return changed

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

    @property
    def allowed_words(self) -> tuple[str, ...]:
        return self._allowed

    def _compile(self, phrases: dict[str, str]) -> _Matcher:
        block = re.compile("|".join(f"(?:{p})" for p in phrases.values())) if phrases else None
        return _Matcher(block, self._allow)
