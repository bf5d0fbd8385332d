"""A fair queue of visitors' prompts: one pending prompt per visitor, first come first served, a
maximum age, and a bounded length. Pure (no asyncio, injected clock), so it is tested on its own.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    id: str
    visitor: str
    text: str
    t_submitted: float


class QueueFull(Exception):
    pass


class PromptQueue:
    def __init__(self, max_length: int = 50, max_age_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_length = max_length
        self.max_age_s = max_age_s
        self.clock = clock
        self._items: OrderedDict[str, Prompt] = OrderedDict()  # visitor -> pending prompt, in arrival order
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, visitor: str, text: str) -> Prompt:
        """Queue a prompt. A visitor's second prompt replaces their pending one and keeps its place."""
        old = self._items.get(visitor)
        if old is None and len(self._items) >= self.max_length:
            raise QueueFull(f"the queue is full ({self.max_length} prompts)")
        prompt = Prompt(f"p{next(self._ids)}", visitor, text, old.t_submitted if old else self.clock())
        self._items[visitor] = prompt  # assignment to an existing key keeps its position
        return prompt

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
