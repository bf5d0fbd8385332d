import pytest

from installation.prompts.queue import PromptQueue, QueueFull


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_first_come_first_served_one_per_visitor():
    """Prompts leave in arrival order; a visitor's second prompt replaces the first and keeps its place."""
    q = PromptQueue()
    q.add("a", "sea")
    q.add("b", "stars")
    q.add("a", "storm at sea")
    assert len(q) == 2 and q.position("a") == 1 and q.position("b") == 2
    assert [q.pop().text, q.pop().text] == ["storm at sea", "stars"]
    assert q.pop() is None


def test_old_prompts_expire_and_full_queue_refuses():
    """Prompts older than the maximum age are dropped; a full queue refuses new visitors only."""
    clock = Clock()
    q = PromptQueue(max_length=2, max_age_s=10, clock=clock)
    q.add("a", "one")
    clock.t = 5
    q.add("b", "two")
    with pytest.raises(QueueFull):
        q.add("c", "three")
    q.add("b", "two, again")  # replacing is fine when full
    clock.t = 12
    assert [p.visitor for p in q.expire()] == ["a"]
    assert q.pop().text == "two, again"


def test_remove_by_visitor_or_id():
    """A visitor who leaves, or an operator, can withdraw a pending prompt."""
    q = PromptQueue()
    p = q.add("a", "x")
    q.add("b", "y")
    assert q.remove(p.id).visitor == "a"
    assert q.remove_visitor("b").text == "y" and len(q) == 0
