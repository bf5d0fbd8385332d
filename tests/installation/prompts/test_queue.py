import pytest

from engine.errors import ConfigError
from installation.prompts.queue import Crowded, NearDuplicate, PromptQueue, QueueFull, shingles, similarity
from tests.installation.prompts.toy_director import DISTINCT_WORDS


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


WORDS = DISTINCT_WORDS[:20]


def varied(i: int) -> str:
    """The i-th of many prompts that are not near-duplicates of each other."""
    return " ".join(WORDS[(i * k + k * k) % len(WORDS)] for k in (1, 3, 7, 11))


def test_newcomers_share_one_budget():
    """Newcomers' new places come from one token bucket: burst at once, then newcomer_rate a second, however
    many visitors send them; replacing one's own prompt costs nothing and settled visitors do not draw on it."""
    clock = Clock()
    q = PromptQueue(clock=clock, newcomer_rate=0.1, newcomer_burst=3)
    for i in range(3):
        q.add(f"new{i}", varied(i), newcomer=True)
    with pytest.raises(Crowded):
        q.add("new3", varied(3), newcomer=True)
    q.add("new0", varied(10), newcomer=True)  # a replacement takes no new place
    q.add("settled", varied(4))
    clock.t = 10  # one more token
    q.add("new4", varied(5), newcomer=True)
    with pytest.raises(Crowded):
        q.add("new5", varied(6), newcomer=True)
    assert [p.visitor for p in q.pending()] == ["new0", "new1", "new2", "settled", "new4"]


def test_newcomers_hold_at_most_their_share_and_the_rest_stays_open():
    """Newcomers' prompts fill at most newcomer_share of the queue (Crowded past it, which is a QueueFull);
    visitors who are not newcomers still get the other places; a newcomer's place that leaves frees one; the
    share follows a changed max_length."""
    q = PromptQueue(max_length=4, newcomer_share=0.5, newcomer_burst=100)
    q.add("a", varied(0), newcomer=True)
    q.add("b", varied(1), newcomer=True)
    with pytest.raises(Crowded) as refused:
        q.add("c", varied(2), newcomer=True)
    assert isinstance(refused.value, QueueFull) and q.newcomers() == 2
    q.add("s1", varied(3))
    q.add("s2", varied(4))
    with pytest.raises(QueueFull):
        q.add("s3", varied(5))
    assert q.pop().visitor == "a"
    assert q.add("c", varied(2), newcomer=True).newcomer and len(q) == 4
    q.max_length = 8  # a reloaded config: the share follows the queue's length
    assert q.newcomer_places == 4


def test_a_newcomer_who_settles_stops_counting_against_the_share():
    """A newcomer's prompt replaced once the visitor is settled no longer counts as a newcomer's, so its
    place stops using the newcomers' share."""
    q = PromptQueue(max_length=10, newcomer_share=0.1)
    q.add("a", varied(0), newcomer=True)
    with pytest.raises(Crowded):
        q.add("b", varied(1), newcomer=True)
    assert not q.add("a", varied(2), newcomer=False).newcomer
    assert q.add("b", varied(1), newcomer=True).newcomer and q.newcomers() == 1


def test_crowded_refusals_count_toward_a_flood():
    """Refusals of newcomers past their budget are a flood to the operator, like near-duplicates."""
    clock = Clock()
    q = PromptQueue(clock=clock, newcomer_burst=1, flood_refusals=3, flood_window_s=60)
    q.add("v0", varied(0), newcomer=True)
    for i in range(1, 4):
        assert not q.flooded()
        with pytest.raises(Crowded):
            q.add(f"v{i}", varied(i), newcomer=True)
    assert q.flooded()


@pytest.mark.parametrize(
    "bad", [{"newcomer_rate": 0}, {"newcomer_burst": 0}, {"newcomer_share": 1.5}, {"newcomer_share": -0.1}]
)
def test_newcomer_settings_are_checked(bad):
    """Newcomer limits that make no sense are a ConfigError naming them."""
    with pytest.raises(ConfigError, match="newcomer"):
        PromptQueue(**bad)
