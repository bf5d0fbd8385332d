import datetime as dt

import pytest

from engine.errors import ConfigError
from installation.control.schedule import AttractMode, AttractSettings, OpeningHours


def test_opening_hours_by_weekday():
    """Weekday rules open and close the show at the configured times."""
    hours = OpeningHours({"mon-fri": "10:00-18:00", "sat,sun": "11:00-20:00"})
    monday = dt.datetime(2026, 11, 30, 9, 59)
    assert not hours.is_open(monday)
    assert hours.is_open(monday.replace(hour=10, minute=0))
    assert not hours.is_open(monday.replace(hour=18, minute=0))
    saturday = dt.datetime(2026, 11, 28, 19, 30)
    assert hours.is_open(saturday) and not hours.is_open(saturday.replace(hour=10))


def test_overnight_span_and_always_open():
    """A span past midnight stays open into the next morning; no rules means always open."""
    hours = OpeningHours({"fri": "20:00-02:00"})
    assert hours.is_open(dt.datetime(2026, 11, 27, 23, 0))  # Friday night
    assert hours.is_open(dt.datetime(2026, 11, 28, 1, 30))  # early Saturday
    assert not hours.is_open(dt.datetime(2026, 11, 28, 2, 30))
    assert OpeningHours({}).is_open(dt.datetime(2026, 1, 1, 3, 0))


@pytest.mark.parametrize("schedule", [{"funday": "10:00-12:00"}, {"mon": "10-12"}, {"mon": "25:00-26:00"}])
def test_bad_hours_are_config_errors(schedule):
    """Unknown days and malformed times are ConfigErrors that say what is expected."""
    with pytest.raises(ConfigError, match="hours"):
        OpeningHours(schedule)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_attract_mode_wanders_only_when_idle():
    """No destinations while visitors are active; after idle_s, a new different mix every every_s."""
    clock = Clock()
    attract = AttractMode(8, AttractSettings(idle_s=60, every_s=20), seed=1, clock=clock)
    clock.t = 30
    assert attract.next_target() is None
    clock.t = 61
    first = attract.next_target()
    assert first is not None and abs(sum(first.weights) - 1) < 1e-6
    clock.t = 70
    assert attract.next_target() is None
    seen = [first]
    for i in range(10):
        clock.t = 81 + 20 * i
        seen.append(attract.next_target())
    assert all(a.weights != b.weights for a, b in zip(seen, seen[1:]))
    attract.activity()
    clock.t += 1
    assert attract.next_target() is None and not attract.active


def test_next_opening_is_the_next_rule_start_after_now():
    """next_opening() gives the next day and time a rule opens (later today, tomorrow, after a weekend or a
    week on); None when there are no rules."""
    hours = OpeningHours({"mon-fri": "10:00-18:00", "sat": "12:00-16:00"})
    monday_early = dt.datetime(2026, 11, 30, 7, 15)
    assert hours.next_opening(monday_early) == dt.datetime(2026, 11, 30, 10, 0)
    assert hours.next_opening(dt.datetime(2026, 11, 30, 18, 0)) == dt.datetime(2026, 12, 1, 10, 0)
    assert hours.next_opening(dt.datetime(2026, 12, 5, 16, 30)) == dt.datetime(2026, 12, 7, 10, 0)  # Sat -> Mon
    assert OpeningHours({"wed": "10:00-11:00"}).next_opening(dt.datetime(2026, 12, 2, 11, 0)) == dt.datetime(
        2026, 12, 9, 10, 0
    )
    assert OpeningHours({}).next_opening(monday_early) is None
