import logging

import pytest

from engine.notice import Notice
from tests.engine.sources.scripted import ManualClock

LOG = logging.getLogger("engine.test_notice")


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == LOG.name]


def test_a_repeating_failure_is_told_once_then_reminded_slowly(caplog):
    """1,000 failures in 30 s give one WARNING; the next minute brings one reminder with the count."""
    clock = ManualClock()
    notice = Notice(LOG, remind_every=60.0, clock=clock)
    with caplog.at_level(logging.DEBUG):
        for _ in range(1000):
            notice.fail("camera 0 lost")
            clock.advance(0.03)
        assert warnings(caplog) == ["camera 0 lost"]
        clock.advance(31.0)
        assert notice.fail("camera 0 lost")
    told = warnings(caplog)
    assert len(told) == 2 and "still: camera 0 lost" in told[1] and "1000 times since" in told[1]
    assert notice.active and notice.problem == "camera 0 lost" and notice.count == 1001


def test_clear_says_so_once_and_makes_the_next_failure_news(caplog):
    """After clear() (one INFO line) the same failure is told at WARNING again at once."""
    clock = ManualClock()
    notice = Notice(LOG, clock=clock)
    with caplog.at_level(logging.INFO):
        notice.fail("disk full")
        clock.advance(2.0)
        assert notice.clear("disk has room again")
        assert not notice.clear("disk has room again")
        assert not notice.active and notice.problem is None
        assert notice.fail("disk full")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name == LOG.name]
    assert infos == ["disk has room again (after 2.0 s, 1 times)"]
    assert warnings(caplog) == ["disk full", "disk full"]


def test_remind_every_must_be_positive():
    """A zero reminder interval would flood again: it is refused."""
    with pytest.raises(ValueError, match="remind_every"):
        Notice(LOG, remind_every=0)
