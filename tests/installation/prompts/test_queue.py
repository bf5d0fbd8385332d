import pytest

from installation.prompts.queue import NearDuplicate, PromptQueue, QueueFull, shingles, similarity


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


def test_near_identical_prompts_from_many_visitors_hold_one_place():
    """An address-hopping flood of near-identical prompts (case, digits, punctuation changed) gets one place;
    the rest are refused as NearDuplicate and an honest visitor's different prompt is still queued."""
    q = PromptQueue(max_length=50)
    q.add("spam-0", "BUY cheap pills at example dot com 0")
    for i in range(1, 60):
        with pytest.raises(NearDuplicate):
            q.add(f"spam-{i}", f"buy cheap pills at example dot com!! {i}")
    assert len(q) == 1
    assert q.add("honest", "a harbour at dusk, in warm orange light").visitor == "honest" and len(q) == 2


def test_a_visitor_may_rephrase_their_own_prompt_and_different_prompts_pass():
    """Similarity is only checked against other visitors' waiting prompts; prompts that merely share
    words are not near-duplicates."""
    q = PromptQueue()
    q.add("a", "storm at sea")
    q.add("a", "storm at sea, at night")  # replaces their own
    q.add("b", "calm sea at dawn")
    q.add("c", "stars over the sea")
    assert len(q) == 3
    assert similarity(shingles("Sea STORM!"), shingles("sea storm 2")) == 1.0
    assert similarity(shingles(""), shingles("")) == 0.0


def test_a_flood_of_near_duplicates_is_noticed_and_forgotten():
    """flooded() turns on after flood_refusals refusals within flood_window_s, and off once they are older."""
    clock = Clock()
    q = PromptQueue(clock=clock, flood_refusals=3, flood_window_s=60)
    q.add("a", "the same words again")
    for i in range(3):
        assert not q.flooded()
        with pytest.raises(NearDuplicate):
            q.add(f"v{i}", "the same words again")
    assert q.flooded()
    clock.t = 61
    assert not q.flooded()
