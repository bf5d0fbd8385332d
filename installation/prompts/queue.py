"""A fair queue of visitors' prompts: one pending prompt per visitor, first come first served, a
maximum age, and a bounded length. Pure (no asyncio, injected clock), so it is tested on its own.

Fairness against floods: one visitor with many addresses (or many tabs) is many visitors to the
queue, so the per-visitor rule alone cannot stop them. A prompt that is nearly the same as one
already waiting from someone else (``similarity`` >= ``max_similarity``: letters only, case and
digits ignored, character-trigram Jaccard) is refused with ``NearDuplicate``, so near-identical spam
from any number of addresses holds one place.

An address-hopping flood of *varied* prompts is held back by what it cannot fake cheaply: time spent
on the page. The caller says whether a prompt comes from a ``newcomer`` (the server: a connection
younger than ``server.settle_s``; an honest visitor reads the page and types for longer than that).
Newcomers' prompts that would take a new place share one token bucket (``newcomer_rate`` a second,
``newcomer_burst`` at once) and may hold at most ``newcomer_share`` of the queue; past either they
are refused with ``Crowded``. A flood of fresh connections therefore saturates only its own budget
and its own share: the rest of the queue stays open to visitors who have been on the page a while,
however many addresses the flood has. A flood that also waits ``settle_s`` on every connection must
hold that many connections open at once, which the server's connection caps bound.

``flooded()`` says when many refusals (near-duplicates or ``Crowded``) came in the last
``flood_window_s`` (the Director warns the operator once per flood).
"""

from __future__ import annotations

import itertools
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import ConfigError


@dataclass(frozen=True)
class Prompt:
    id: str
    visitor: str
    text: str
    t_submitted: float
    shingles: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    newcomer: bool = False  # sent soon after its visitor connected: counts against the newcomers' share


class QueueFull(Exception):
    pass


class Crowded(QueueFull):
    """A newcomer's prompt while newcomers' budget or their share of the queue is used up."""


class NearDuplicate(Exception):
    """A prompt nearly the same as one already waiting from another visitor."""


def shingles(text: str) -> frozenset[str]:
    """The character trigrams of ``text`` reduced to its letters (NFKC, case-folded; digits, punctuation
    and symbols dropped, runs of other characters -> one space): what "nearly the same" compares."""
    kept = []
    for c in unicodedata.normalize("NFKC", text).casefold():
        kept.append(c if unicodedata.category(c).startswith(("L", "M")) else " ")
    core = " ".join("".join(kept).split())
    if len(core) < 3:
        return frozenset({core}) if core else frozenset()
    return frozenset(core[i : i + 3] for i in range(len(core) - 2))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets, 0..1 (two empty sets: 0, nothing to compare)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _check_newcomer_limits(rate: float, burst: int, share: float) -> None:
    if not (rate > 0 and burst >= 1 and 0 <= share <= 1):
        raise ConfigError(
            f"PromptQueue: expected newcomer_rate > 0, newcomer_burst >= 1 and newcomer_share "
            f"0..1, got {rate!r}, {burst!r}, {share!r}"
        )


class PromptQueue:
    def __init__(
        self,
        max_length: int = 50,
        max_age_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        max_similarity: float = 0.7,
        flood_refusals: int = 10,
        flood_window_s: float = 60.0,
        newcomer_rate: float = 0.2,
        newcomer_burst: int = 10,
        newcomer_share: float = 0.5,
    ) -> None:
        # max_similarity: refuse a prompt this similar (0..1) to another visitor's waiting one; 1: off
        # flood_refusals / flood_window_s: this many refusals (near-duplicates, Crowded) this quickly is a flood
        # newcomer_rate / newcomer_burst: new places a second (and at once) for all newcomers together
        # newcomer_share: the part of max_length newcomers' prompts may hold (1: no places kept for others)
        _check_newcomer_limits(newcomer_rate, newcomer_burst, newcomer_share)
        self.max_length = max_length
        self.max_age_s = max_age_s
        self.clock = clock
        self.max_similarity = max_similarity
        self.flood_refusals = flood_refusals
        self.flood_window_s = flood_window_s
        self._items: OrderedDict[str, Prompt] = OrderedDict()  # visitor -> pending prompt, in arrival order
        self._ids = itertools.count(1)
        self._refused: deque[float] = deque(maxlen=max(1, flood_refusals))  # times of flood refusals
        self.newcomer_rate = float(newcomer_rate)
        self.newcomer_burst = float(newcomer_burst)
        self.newcomer_share = float(newcomer_share)
        self._tokens, self._tokens_at = self.newcomer_burst, clock()  # the newcomers' bucket

    def __len__(self) -> int:
        return len(self._items)

    def retune(
        self, max_length: int, max_age_s: float, newcomer_rate: float, newcomer_burst: int, newcomer_share: float
    ) -> None:
        """New limits (a config reload); waiting prompts keep their places, the newcomers' bucket its tokens
        (at most the new burst)."""
        _check_newcomer_limits(newcomer_rate, newcomer_burst, newcomer_share)
        now = self.clock()
        tokens = self._newcomer_tokens(now)
        self.max_length, self.max_age_s = max_length, max_age_s
        self.newcomer_rate, self.newcomer_burst, self.newcomer_share = (
            float(newcomer_rate),
            float(newcomer_burst),
            float(newcomer_share),
        )
        self._tokens, self._tokens_at = min(tokens, self.newcomer_burst), now

    def add(self, visitor: str, text: str, newcomer: bool = False) -> Prompt:
        """Queue a prompt. A visitor's second prompt replaces their pending one and keeps its place.
        Raises ``QueueFull``, ``Crowded`` (a ``QueueFull``) for a ``newcomer`` past newcomers' budget or share,
        or ``NearDuplicate`` for a prompt too like another visitor's waiting one."""
        old = self._items.get(visitor)
        now = self.clock()
        new_place = old is None
        if new_place and len(self._items) >= self.max_length:
            raise QueueFull(f"the queue is full ({self.max_length} prompts)")
        if new_place and newcomer:
            if self.newcomers() >= self.newcomer_places:
                self._refused.append(now)
                raise Crowded(f"newcomers hold their share of the queue ({self.newcomer_places} places)")
            if self._newcomer_tokens(now) < 1.0:
                self._refused.append(now)
                raise Crowded(f"newcomers' budget is used up ({self.newcomer_rate:g} prompts a second)")
        grams = shingles(text)
        if self.max_similarity < 1.0:
            for other in self._items.values():
                if other.visitor != visitor and similarity(grams, other.shingles) >= self.max_similarity:
                    self._refused.append(now)
                    raise NearDuplicate(f"nearly the same as {other.id}, already waiting")
        if new_place and newcomer:
            self._tokens, self._tokens_at = self._newcomer_tokens(now) - 1.0, now
        # a replacement stays a newcomer's only while its visitor still is one
        prompt = Prompt(
            f"p{next(self._ids)}",
            visitor,
            text,
            old.t_submitted if old else now,
            grams,
            newcomer and (old is None or old.newcomer),
        )
        self._items[visitor] = prompt  # assignment to an existing key keeps its position
        return prompt

    @property
    def newcomer_places(self) -> int:
        """At most this many newcomers' prompts wait (one at least, unless the share is 0)."""
        return max(int(self.newcomer_share * self.max_length), 1 if self.newcomer_share > 0 else 0)

    def newcomers(self) -> int:
        """How many waiting prompts are newcomers'."""
        return sum(1 for p in self._items.values() if p.newcomer)

    def _newcomer_tokens(self, now: float) -> float:
        return min(self.newcomer_burst, self._tokens + max(0.0, now - self._tokens_at) * self.newcomer_rate)

    def flooded(self) -> bool:
        """True while ``flood_refusals`` prompts have been refused as near-duplicates or ``Crowded`` within the
        last ``flood_window_s``."""
        return len(self._refused) >= self.flood_refusals and self.clock() - self._refused[0] <= self.flood_window_s

    def expire(self) -> list[Prompt]:
        """Drop and return prompts older than the maximum age."""
        now = self.clock()
        old = [p for p in self._items.values() if now - p.t_submitted > self.max_age_s]
        for p in old:
            del self._items[p.visitor]
        return old

    def pop(self) -> Prompt | None:
        self.expire()
        if not self._items:
            return None
        _, prompt = self._items.popitem(last=False)
        return prompt

    def position(self, visitor: str) -> int | None:
        """1-based place of the visitor's pending prompt, or None."""
        for i, v in enumerate(self._items):
            if v == visitor:
                return i + 1
        return None

    def remove_visitor(self, visitor: str) -> Prompt | None:
        return self._items.pop(visitor, None)

    def remove(self, prompt_id: str) -> Prompt | None:
        for v, p in list(self._items.items()):
            if p.id == prompt_id:
                return self._items.pop(v)
        return None

    def pending(self) -> list[Prompt]:
        return list(self._items.values())
