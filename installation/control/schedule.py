"""Unattended operation: opening hours and attract mode. Pure logic with injected clocks.

- ``OpeningHours``: per-weekday opening times ("mon-fri": "10:00-18:00"); outside them the show
  blacks out (or shows a configured slide) with inference paused.
- ``AttractMode``: when no visitor prompt has come for ``idle_s``, the show wanders through the
  styles by itself — a slow, never-repeating walk of mixes.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable

from engine.errors import ConfigError
from engine.style import StyleMix
from installation.control.settings import AttractSettings  # the config's attract section, one model

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_days(spec: str) -> set[int]:
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in DAYS or b not in DAYS:
                raise ConfigError(f"hours: unknown day range {part!r}; use names like mon-fri")
            i, j = DAYS.index(a), DAYS.index(b)
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in DAYS:
            days.add(DAYS.index(part))
        elif part in ("daily", "all", "every"):
            days.update(range(7))
        else:
            raise ConfigError(f"hours: unknown day {part!r}; use mon, tue, ... sun, ranges like mon-fri, or daily")
    return days


def _parse_span(spec: str) -> tuple[dt.time, dt.time]:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", spec)
    if not m:
        raise ConfigError(f"hours: expected a time span like 10:00-18:00, got {spec!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (h1 <= 24 and h2 <= 24 and m1 < 60 and m2 < 60):
        raise ConfigError(f"hours: invalid time in {spec!r}")
    end = dt.time(23, 59, 59) if (h2, m2) == (24, 0) else dt.time(h2, m2)
    return dt.time(min(h1, 23), m1), end


class OpeningHours:
    """``{"mon-fri": "10:00-18:00", "sat,sun": "11:00-20:00"}``; spans past midnight ("20:00-02:00") work."""

    def __init__(self, schedule: dict[str, str]) -> None:
        self.rules: list[tuple[set[int], dt.time, dt.time]] = []
        for days, span in schedule.items():
            start, end = _parse_span(span)
            self.rules.append((_parse_days(days), start, end))

    def is_open(self, when: dt.datetime) -> bool:
        if not self.rules:
            return True
        t, day = when.time(), when.weekday()
        for days, start, end in self.rules:
            if start <= end:
                if day in days and start <= t < end:
                    return True
            else:  # overnight: open from start on `day`, until end the next morning
                if (day in days and t >= start) or ((day - 1) % 7 in days and t < end):
                    return True
        return False

    def next_opening(self, when: dt.datetime) -> dt.datetime | None:
        """The first moment after ``when`` at which the show opens (a rule's start), in ``when``'s time zone;
        None without rules (always open) or if no rule ever opens. Meant for when the show is closed."""
        starts = [
            dt.datetime.combine(when.date() + dt.timedelta(days=k), start, tzinfo=when.tzinfo)
            for k in range(8)
            for days, start, _ in self.rules
            if (when.weekday() + k) % 7 in days
        ]
        return min((t for t in starts if t > when), default=None)


class AttractMode:
    """Chooses wandering destinations once the show has been idle; never the same mix twice running."""

    def __init__(
        self,
        n_styles: int,
        settings: AttractSettings = AttractSettings(),
        seed: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.n_styles = n_styles
        self.settings = settings
        self.clock = clock or time.monotonic
        self.rng = random.Random(seed)
        self.last_activity = self.clock()
        self.last_move = -1e9
        self._last_styles: tuple[int, ...] = ()

    def activity(self) -> None:
        """A visitor prompt arrived (or an operator acted): stop wandering for ``idle_s``."""
        self.last_activity = self.clock()

    @property
    def active(self) -> bool:
        return self.clock() - self.last_activity >= self.settings.idle_s

    def next_target(self, strength: float = 1.0) -> StyleMix | None:
        """A new destination when wandering and it is time to move on, else None."""
        now = self.clock()
        if not self.active or now - self.last_move < self.settings.every_s or self.n_styles == 0:
            return None
        self.last_move = now
        k = self.rng.randint(1, max(1, min(self.settings.max_styles, self.n_styles)))
        while True:
            styles = tuple(sorted(self.rng.sample(range(self.n_styles), k)))
            if styles != self._last_styles or self.n_styles == 1:
                break
        self._last_styles = styles
        weights = [0.0] * self.n_styles
        raw = [self.rng.uniform(0.3, 1.0) for _ in styles]
        for i, w in zip(styles, raw):
            weights[i] = w
        return StyleMix(tuple(weights), strength)
