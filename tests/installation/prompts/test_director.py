import asyncio
from dataclasses import dataclass

from engine.events import SetSmoothing, TargetChanged
from installation.prompts.director import Director, DirectorSettings


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@dataclass
class Verdict:
    allowed: bool
    reason: str = ""


class WordModerator:
    def check(self, text):
        return Verdict("forbidden" not in text, "That prompt can't be shown here.")


def _director(interpreter, clock, **kw):
    posted = []
    d = Director(
        posted.append,
        interpreter,
        moderator=WordModerator(),
        settings=DirectorSettings(min_show_s=10.0, **kw),
        clock=clock,
    )
    return d, posted


def _listening(director, visitor="v"):
    """Subscribe ``visitor`` to the Director; the list its messages arrive in."""
    inbox = []

    async def send(message):
        inbox.append(message)

    director.subscribe(visitor, send)
    return inbox


def test_prompt_is_queued_then_shown_and_the_engine_told(interpreter):
    """submit -> queued (position 1); its turn -> TargetChanged posted and the visitor hears 'showing'."""
    clock = Clock()
    d, posted = _director(interpreter, clock)
    inbox = _listening(d, "v1")

    async def go():
        reply = await d.submit("v1", "swirling night sky full of stars")
        assert reply["type"] == "queued" and reply["position"] == 1
        assert await d.step() is not None

    asyncio.run(go())
    target = next(e for e in posted if isinstance(e, TargetChanged))
    assert max(target.mix.named(interpreter.names).items(), key=lambda kv: kv[1])[0] == "starry_night"
    assert any(isinstance(e, SetSmoothing) for e in posted)
    assert len(inbox) == 1 and inbox[0]["type"] == "showing"
    assert inbox[0]["text"] == "swirling night sky full of stars" and inbox[0]["id"].startswith("p")
    assert d.status()["prompt"] == "swirling night sky full of stars"


def test_each_prompt_gets_its_minimum_showing_time(interpreter):
    """A second prompt waits until the first has been shown for min_show_s; waiting visitors get positions."""
    clock = Clock()
    d, posted = _director(interpreter, clock)
    inbox = _listening(d, "b")

    async def go():
        await d.submit("a", "stormy sea")
        await d.submit("b", "calm pond")
        await d.step()
        assert d.current.text == "stormy sea" and inbox[-1] == {"type": "queued", "id": inbox[-1]["id"], "position": 1}
        clock.t += 5
        assert await d.step() is None
        clock.t += 6
        assert (await d.step()).text == "calm pond"

    asyncio.run(go())
    assert inbox[-1]["type"] == "showing"


def test_declined_and_withdrawn_prompts_are_never_shown(interpreter):
    """Moderated prompts are rejected in neutral words; a visitor who leaves loses their pending prompt."""
    clock = Clock()
    d, posted = _director(interpreter, clock)

    async def go():
        reply = await d.submit("a", "something forbidden")
        assert reply == {"type": "rejected", "reason": "That prompt can't be shown here."}
        await d.submit("b", "stars")
        d.unsubscribe("b")
        assert await d.step() is None

    asyncio.run(go())
    assert posted == [] and d.declined == 1


def test_attract_mode_wanders_when_nobody_prompts(interpreter):
    """With no prompts for idle_s, the director posts slow wandering targets; a prompt ends it."""
    from installation.control.schedule import AttractMode, AttractSettings

    clock = Clock()
    posted = []
    attract = AttractMode(
        len(interpreter.names), AttractSettings(idle_s=30, every_s=10, transition_s=8), seed=0, clock=clock
    )
    d = Director(posted.append, interpreter, settings=DirectorSettings(min_show_s=5), clock=clock, attract=attract)

    async def go():
        await d.step()
        assert posted == []
        clock.t += 31
        await d.step()
        assert d.mode == "attract" and posted[-1].seconds == 8 and posted[-1].label == "attract"
        clock.t += 11
        await d.step()
        assert len(posted) == 2
        await d.submit("v", "stars")
        await d.step()
        assert d.mode == "prompt"
        clock.t += 11
        await d.step()
        assert len([e for e in posted if isinstance(e, TargetChanged)]) == 3  # no wandering right after a prompt

    asyncio.run(go())


def test_prompts_steer_the_generator_deterministically(interpreter, tmp_path):
    """With a generator source, a prompt also posts a SteerGenerator latent; the same words, the same latent,
    and the event reaches the GeneratorSource inside its wrappers."""
    import numpy as np

    from engine.events import SteerGenerator
    from engine.sources.base import Steerable, find_first
    from engine.sources.fallback import FallbackSource
    from engine.sources.generator import GeneratorSource
    from engine.sources.pattern import PatternSource
    from engine.sources.transform import TransformedSource
    from installation.prompts.generator_steering import latent_for_text
    from tests.exporters.tiny_gan import tiny_generator

    clock = Clock()
    d, posted = _director(interpreter, clock)
    dim = 8
    d.generator_latent = lambda text: latent_for_text(interpreter.embed([text])[0], dim, 0)

    async def go():
        await d.submit("a", "stormy sea")
        await d.step()

    asyncio.run(go())
    steer = [e for e in posted if isinstance(e, SteerGenerator)]
    assert len(steer) == 1 and len(steer[0].latent) == dim
    assert np.allclose(steer[0].latent, d.generator_latent("stormy sea"))

    manifest = tiny_generator(tmp_path)
    gen = GeneratorSource(manifest, width=32, height=32)
    chain = TransformedSource(FallbackSource(PatternSource(width=32, height=32), gen), 32, 32)
    assert find_first(chain, Steerable) is gen


def test_attract_mode_switches_to_the_generator_and_a_prompt_brings_the_room_back(interpreter):
    """With attract_source set, entering attract mode posts SelectSource("generator") once; the next
    visitor's turn posts SelectSource("live") before its new style; the generator's walk is released once."""
    from engine.events import ReleaseGenerator, SelectSource
    from installation.control.schedule import AttractMode, AttractSettings

    clock = Clock()
    posted = []
    attract = AttractMode(
        len(interpreter.names), AttractSettings(idle_s=30, every_s=10, transition_s=8), seed=0, clock=clock
    )
    d = Director(posted.append, interpreter, settings=DirectorSettings(min_show_s=5), clock=clock, attract=attract)
    d.attract_source = "generator"
    d.generator_latent = lambda text: [0.0] * 8

    async def go():
        clock.t += 31
        await d.step()
        clock.t += 11
        await d.step()  # a second destination: no second switch
        selects = [e for e in posted if isinstance(e, SelectSource)]
        assert [e.name for e in selects] == ["generator"] and d.mode == "attract"
        assert len([e for e in posted if isinstance(e, ReleaseGenerator)]) == 1  # the dream wanders freely again
        await d.submit("v", "a quiet pond with water lilies")
        await d.step()

    asyncio.run(go())
    selects = [i for i, e in enumerate(posted) if isinstance(e, SelectSource)]
    assert [posted[i].name for i in selects] == ["generator", "live"]
    assert isinstance(posted[selects[1] + 1], TargetChanged) and d.mode == "prompt"


# -- what visitors are told about the show -----------------------------------------------------------------
def test_outside_opening_hours_prompts_are_refused_with_when_it_opens():
    """Closed: submit answers 'rejected' saying when the show opens (and queues nothing), visitors are told
    with a status message (accepting false, note 'closed', opens_at), and /status shows opens_at."""
    import datetime as dt

    from installation.control.schedule import OpeningHours
    from tests.installation.prompts.toy_director import make_director

    director, _ = make_director()
    director.hours = OpeningHours({"mon-fri": "10:00-18:00"})
    director.now = lambda: dt.datetime(2026, 12, 3, 20, 30)  # a Thursday evening
    inbox = _listening(director)

    async def go():
        reply = await director.submit("v", "green moss")
        assert reply["type"] == "rejected" and "closed" in reply["reason"] and "tomorrow at 10:00" in reply["reason"]
        assert len(director.queue) == 0
        assert await director.step() is None

    asyncio.run(go())
    assert inbox == [
        {
            "type": "status",
            "accepting": False,
            "note": "closed",
            "opens_at": "2026-12-04T10:00",
            "text": "The installation is closed right now. It opens tomorrow at 10:00.",
        }
    ]
    assert director.status()["opens_at"] == "2026-12-04T10:00"


def test_warming_up_and_pinned_prompts_wait_and_visitors_are_told_once_per_change():
    """Without an interpreter the note is 'warming_up' (prompts are queued); with a pinned style it is
    'pinned'; when all is well again visitors hear note null. Each change is sent once, not every step."""
    from tests.installation.prompts.toy_director import make_director

    director, _ = make_director()
    interpreter, director.interpreter = director.interpreter, None
    inbox = _listening(director)
    pinned = {"on": False}
    director.is_pinned = lambda: pinned["on"]

    async def go():
        assert (await director.submit("v", "green moss"))["type"] == "queued"
        await director.step()
        await director.step()
        assert [m["note"] for m in inbox] == ["warming_up"] and director.status()["ready"] is False
        director.set_interpreter(interpreter)
        pinned["on"] = True
        assert await director.step() is None  # pinned: the prompt waits
        assert inbox[-1]["note"] == "pinned" and inbox[-1]["accepting"] is True and director.status()["pinned"]
        pinned["on"] = False
        assert (await director.step()).text == "green moss"

    asyncio.run(go())
    assert [m.get("note", m["type"]) for m in inbox] == ["warming_up", "pinned", None, "showing"]


def test_a_flood_of_near_identical_prompts_is_refused_and_the_operator_warned_once(caplog):
    """Near-identical prompts from many visitors are 'rejected' (one place is kept); after flood_refusals of
    them one WARNING reaches the log (and so the operator panel), not one per prompt."""
    import logging

    from tests.installation.prompts.toy_director import make_director

    director, _ = make_director()

    async def go():
        assert (await director.submit("v0", "visit cheap pills dot com"))["type"] == "queued"
        for i in range(1, 30):
            reply = await director.submit(f"v{i}", f"VISIT cheap pills dot com {i}")
            assert reply["type"] == "rejected" and "already waiting" in reply["reason"]
        assert (await director.submit("honest", "a harbour at dusk"))["type"] == "queued"

    with caplog.at_level(logging.WARNING, logger="installation.prompts.director"):
        asyncio.run(go())
    assert len(director.queue) == 2
    assert len([r for r in caplog.records if "flood" in r.getMessage()]) == 1


def test_once_running_the_director_is_reconfigured_only_on_its_own_thread():
    """configure()/set_interpreter() from another thread raise while run() owns the Director; a coroutine
    on the Director's loop changes pacing, queue limits, moderator and attract mode together."""
    from engine.errors import EngineError
    from installation.prompts.moderation import Moderator
    from tests.installation.prompts.toy_director import make_director

    director, _ = make_director(min_show_s=20.0)
    errors: list[Exception] = []
    strict = Moderator(["lantern"])

    async def go():
        stop = asyncio.Event()
        runner = asyncio.create_task(director.run(stop))
        while director._owner is None:
            await asyncio.sleep(0)

        def elsewhere():
            for call in (
                lambda: director.configure(DirectorSettings(min_show_s=1.0)),
                lambda: director.set_interpreter(director.interpreter),
            ):
                try:
                    call()
                except EngineError as exc:
                    errors.append(exc)

        await asyncio.to_thread(elsewhere)
        director.configure(
            DirectorSettings(min_show_s=5.0, max_queue=7, max_age_s=30.0), moderator=strict, attract=None
        )
        stop.set()
        await runner

    asyncio.run(go())
    assert len(errors) == 2 and all("submit a coroutine" in str(e) for e in errors)
    assert director.settings.min_show_s == 5.0 and director.queue.max_length == 7 and director.queue.max_age_s == 30.0
    assert director.moderator is strict and director.attract is None


def test_reconfigured_newcomer_limits_take_effect(interpreter):
    """configure() with new newcomer_* settings (a config reload) changes who the queue lets in: with
    newcomer_share 0 a newcomer is refused as crowded while a visitor who stayed is still queued."""
    clock = Clock()
    director, _ = _director(interpreter, clock)
    assert asyncio.run(director.submit("early", "warm fire glow", newcomer=True))["type"] == "queued"
    director.configure(DirectorSettings(min_show_s=10.0, newcomer_share=0.0, newcomer_burst=3, newcomer_rate=1.0))
    assert (director.queue.newcomer_share, director.queue.newcomer_burst, director.queue.newcomer_rate) == (0, 3, 1)
    assert asyncio.run(director.submit("new", "blue ice", newcomer=True))["type"] == "rejected"
    assert asyncio.run(director.submit("stayed", "blue ice", newcomer=False))["type"] == "queued"
    assert len(director.queue) == 2


def test_a_new_prompt_wakes_the_director_without_waiting_for_its_tick():
    """With a one-minute tick, a prompt submitted to an idle running Director is still shown at once: submit
    wakes the run loop (the live show's Send -> showing no longer waits for polling)."""
    from tests.installation.prompts.toy_director import make_director

    director, posted = make_director()
    director.settings = DirectorSettings(min_show_s=0.0, tick_s=60.0)

    async def go():
        stop = asyncio.Event()
        runner = asyncio.create_task(director.run(stop))
        while director._owner is None:
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)  # the run loop is now waiting out its first tick
        await director.submit("v", "black ink")
        try:
            await asyncio.wait_for(_until(lambda: director.current is not None), 30.0)
        finally:
            stop.set()
            director.skip()  # wakes the loop so it sees the stop
            await runner

    asyncio.run(go())
    assert director.current.text == "black ink" and any(isinstance(e, TargetChanged) for e in posted)


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)
