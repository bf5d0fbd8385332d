import itertools

import pytest

from engine.errors import ConfigError
from installation.server.sessions import Sessions


class ManualClock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(grace_s: float = 120.0, **caps) -> tuple[Sessions, ManualClock]:
    clock = ManualClock()
    counter = itertools.count(1)
    return Sessions(grace_s, clock=clock, new_secret=lambda n: f"s{next(counter)}", **caps), clock


def waiting(sessions: Sessions, address: str = "10.0.0.1", prompt_id: str = "p1"):
    """A connected session whose prompt waits in the queue (it was sent 'queued')."""
    session = sessions.open(address)
    sessions.outgoing(session, {"type": "queued", "id": prompt_id, "position": 1})
    return session


def test_queued_carries_the_resume_token_and_marks_the_prompt_waiting():
    """outgoing() adds the session's resume token to 'queued' and notes the prompt as waiting; its 'showing'
    (pushed by the Director) ends the wait, and a 'queued' that arrives after its 'showing' does not restart it."""
    sessions, _ = make()
    session = sessions.open("10.0.0.1")
    sent = sessions.outgoing(session, {"type": "queued", "id": "p1", "position": 1})
    assert sent["resume"] == session.token and session.waiting_for == "p1"
    sessions.outgoing(session, {"type": "showing", "id": "p1", "text": "moss"}, pushed=True)
    assert session.waiting_for is None
    sessions.outgoing(session, {"type": "queued", "id": "p1", "position": 1})
    assert session.waiting_for is None


def test_a_rejected_reply_leaves_the_waiting_prompt_but_a_pushed_rejection_ends_it():
    """A moderation 'rejected' reply to a second prompt keeps the first one waiting; the Director's own
    'rejected' (the prompt waited too long) ends the wait."""
    sessions, _ = make()
    session = waiting(sessions)
    sessions.outgoing(session, {"type": "rejected", "reason": "no"})
    assert session.waiting_for == "p1" and session.last_status["type"] == "queued"
    sessions.outgoing(session, {"type": "rejected", "reason": "too long"}, pushed=True)
    assert session.waiting_for is None


def test_idle_time_runs_on_the_clock_and_stops_while_a_prompt_waits():
    """idle_for() counts seconds since anything was said either way, and is 0 while a prompt waits."""
    sessions, clock = make()
    quiet, busy = sessions.open("a"), waiting(sessions, "b")
    clock.now += 30
    assert sessions.idle_for(quiet) == 30 and sessions.idle_for(busy) == 0
    sessions.heard(quiet)
    assert sessions.idle_for(quiet) == 0


def test_a_dropped_visitor_keeps_the_place_for_the_grace_period_exactly():
    """A session closed while its prompt waits is kept (nothing to let go of); expire() withdraws it once
    grace_s has passed on the clock, not a moment before."""
    sessions, clock = make(grace_s=120)
    session = waiting(sessions)
    assert sessions.close(session) == [] and sessions.next_deadline() == clock.now + 120
    clock.now += 119.9
    assert sessions.expire() == []
    clock.now += 0.1
    assert sessions.expire() == [session.id] and not sessions.kept and sessions.next_deadline() is None


def test_nothing_is_kept_without_a_waiting_prompt_or_with_grace_zero():
    """A session with nothing waiting, any session closed with keep=False (the server stops), or any session
    when grace_s is 0, is let go of at once."""
    sessions, _ = make()
    idle = sessions.open("a")
    assert sessions.close(idle) == [idle.id]
    stopping = waiting(sessions)
    assert sessions.close(stopping, keep=False) == [stopping.id] and not sessions.kept and not sessions.connected
    off, _ = make(grace_s=0)
    session = waiting(off)
    assert off.close(session) == [session.id] and not off.kept


def test_resume_needs_the_token_within_the_grace_period_and_works_once():
    """A new session with the token takes the old visitor id and hears the latest news; a wrong, used or
    expired token (even before expire() has run) changes nothing."""
    sessions, clock = make()
    old = waiting(sessions)
    sessions.close(old)
    sessions.overhear(old.id, {"type": "queued", "id": "p1", "position": 1})
    newcomer = sessions.open("10.0.0.2")
    new_token = newcomer.token
    assert sessions.resume(newcomer, "guessed") is None
    place = sessions.resume(newcomer, old.token)
    assert place is not None and place.last["position"] == 1
    assert newcomer.id == old.id and newcomer.token == new_token and list(sessions.connected) == [old.id]
    assert sessions.resume(sessions.open("x"), old.token) is None  # used
    later = waiting(sessions, prompt_id="p2")
    sessions.close(later)
    clock.now += 120
    assert sessions.resume(sessions.open("y"), later.token) is None  # expired


def test_a_visitor_with_a_prompt_waiting_cannot_take_another_place():
    """resume() refuses a session that already has its own prompt waiting."""
    sessions, _ = make()
    old = waiting(sessions)
    sessions.close(old)
    busy = waiting(sessions, prompt_id="p2")
    assert sessions.resume(busy, old.token) is None and sessions.kept


def test_a_connect_prompt_disconnect_flood_holds_only_a_few_places():
    """Kept places are capped per address (oldest first) and in all, so hopping addresses cannot make
    the resume book hold the queue: the places pushed out are handed back to be let go of."""
    sessions, _ = make(max_kept=3, max_kept_per_address=2)
    same = [waiting(sessions, "10.0.0.1", f"p{i}") for i in range(3)]
    assert sessions.close(same[0]) == [] and sessions.close(same[1]) == []
    assert sessions.close(same[2]) == [same[0].id]
    hoppers = [waiting(sessions, f"10.9.0.{i}", f"h{i}") for i in range(5)]
    let_go = [vid for h in hoppers for vid in sessions.close(h)]
    assert len(sessions.kept) == 3 and len(let_go) == 4
    assert [p.visitor_id for p in sessions.kept.values()] == [h.id for h in hoppers[-3:]]


def test_stopping_withdraws_every_place_and_settings_are_checked():
    """withdraw_all() empties the book; a grace period outside 0..3600 s or a negative cap is a ConfigError."""
    sessions, _ = make()
    session = waiting(sessions)
    sessions.close(session)
    assert sessions.withdraw_all() == [session.id] and not sessions.kept
    with pytest.raises(ConfigError, match="grace_s"):
        Sessions(grace_s=-1)
    with pytest.raises(ConfigError, match="caps"):
        Sessions(max_kept=-1)
    with pytest.raises(ConfigError, match="settle_s"):
        Sessions(settle_s=-1)


def test_a_visitor_is_a_newcomer_for_settle_s_and_keeps_their_first_connect_time_on_resume():
    """newcomer() holds for settle_s after connecting and not after; a visitor who drops and resumes on a
    fresh connection is not a newcomer again; with settle_s 0 nobody is."""
    sessions, clock = make(settle_s=8.0)
    first = waiting(sessions)
    assert sessions.newcomer(first)
    clock.now += 8.0
    assert not sessions.newcomer(first)
    sessions.close(first)
    again = sessions.open("10.0.0.1")
    assert sessions.newcomer(again)
    assert sessions.resume(again, first.token) is not None and not sessions.newcomer(again)
    off, _ = make(settle_s=0.0)
    assert not off.newcomer(off.open("10.0.0.2"))
