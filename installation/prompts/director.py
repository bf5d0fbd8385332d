"""The Director: visitors' prompts -> fair queue -> expansion -> interpretation -> the engine's target.

Runs in the server's asyncio loop. ``submit`` moderates and queues a prompt and answers the visitor
at once; ``run`` gives each prompt its turn once the previous one has shown for ``min_show_s``,
expands and interprets it in a worker thread, posts the new target to the frame loop (which glides
there) and tells the visitor "showing". The loop is touched only through its ``post``.

What visitors are told about the show itself is ``visitor_state()``, a ``status`` message: whether
prompts are accepted and, if the show is not simply running, why (``note``): ``closed`` outside the
opening hours (``hours``; prompts are refused, with when it opens), ``warming_up`` while the
interpreter is not loaded yet, ``pinned`` while an operator holds one look (prompts are queued and
wait). ``step`` sends it to every visitor when it changes; the server sends it to a new visitor
when it is not the plain running state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from engine.errors import EngineError
from engine.events import Event, ReleaseGenerator, SelectSource, SetSmoothing, SteerGenerator, TargetChanged
from installation.control.schedule import AttractMode, OpeningHours
from installation.prompts.expander import Expander
from installation.prompts.interpreter import Interpretation, Interpreter
from installation.prompts.moderation import Moderator
from installation.prompts.queue import Crowded, NearDuplicate, Prompt, PromptQueue, QueueFull
from installation.prompts.settings import DirectorSettings  # the config's director section, one model

log = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]
_KEEP: Any = object()  # configure(): "leave this as it is"
DECLINED = "That prompt can't be shown here. Try describing a scene, a mood or a colour."
NEAR_DUPLICATE = "That's very like a prompt that is already waiting. Try some words of your own."
CROWDED = "Many new visitors are arriving at once. Please send your words again in a moment."
WARMING_UP = "The installation is warming up. Your words will be shown as soon as it is ready."
PINNED = "The artist is holding one look for a moment. Your words will wait their turn."
CLOSED = "The installation is closed right now."


class Director:
    def __init__(
        self,
        post: Callable[[Event], bool],
        interpreter: Interpreter | None,
        expander: Expander | None = None,
        moderator=None,
        settings: DirectorSettings = DirectorSettings(),
        clock: Callable[[], float] = time.monotonic,
        attract: AttractMode | None = None,
        default_strength: float = 1.0,
    ) -> None:
        self.post = post
        self.interpreter = interpreter
        self.expander = expander
        self.moderator = moderator
        self.settings = settings
        self.clock = clock
        self.queue = PromptQueue(
            settings.max_queue,
            settings.max_age_s,
            clock,
            newcomer_rate=settings.newcomer_rate,
            newcomer_burst=settings.newcomer_burst,
            newcomer_share=settings.newcomer_share,
        )
        self._subscribers: dict[str, Send] = {}
        self.current: Prompt | None = None
        self.current_interpretation: Interpretation | None = None
        self.shown_at = -1e9
        self.accepted = 0
        self.declined = 0
        self.attract = attract
        self.mode = "waiting"  # waiting | prompt | attract
        self.is_pinned: Callable[[], bool] = lambda: False  # an operator holds the look: prompts wait
        self.base_strength = default_strength  # operators may change it while the show runs
        # words -> latent, when a GAN is the source
        self.generator_latent: Callable[[str], Iterable[float]] | None = None
        self.attract_source: str | None = None  # e.g. "generator": attract mode crossfades the show to it
        self.hours: OpeningHours | None = None  # outside these hours prompts are refused; None: always open
        self.now: Callable[[], dt.datetime] = dt.datetime.now  # the wall clock the hours are read on
        self._told_visitors: dict | None = None  # the last visitor_state() sent to everyone
        self._flood_warned = False
        self._owner: int | None = None  # the thread running ``run()``: the only one that may reconfigure
        self._wake: asyncio.Event | None = None  # set to give the next turn without waiting for the tick

    def _check_thread(self, what: str) -> None:
        """The Director's state changes only on its own thread (the one running ``run``) once it runs."""
        if self._owner is not None and threading.get_ident() != self._owner:
            raise EngineError(
                f"Director.{what} called from thread {threading.current_thread().name!r}; "
                "submit a coroutine to the Director's loop instead"
            )

    def set_interpreter(self, interpreter: Interpreter, expander: Expander | None = None) -> None:
        """Install the interpreter once it has loaded (the show starts before the language model)."""
        self._check_thread("set_interpreter")
        self.interpreter, self.expander = interpreter, expander

    def configure(
        self,
        settings: DirectorSettings | None = None,
        *,
        moderator: Any = _KEEP,
        attract: AttractMode | None | object = _KEEP,
    ) -> None:
        """New pacing and queue limits, moderator or attract mode (e.g. after a config reload), on the
        Director's thread; arguments left out stay as they are."""
        self._check_thread("configure")
        if settings is not None:
            self.settings = settings
            self.queue.retune(
                settings.max_queue,
                settings.max_age_s,
                settings.newcomer_rate,
                settings.newcomer_burst,
                settings.newcomer_share,
            )
        if moderator is not _KEEP:
            if isinstance(moderator, Moderator) and isinstance(self.moderator, Moderator):
                moderator.keep_edits_of(self.moderator)  # the panel's blocked/unblocked phrases survive a reload
            self.moderator = moderator
        if attract is not _KEEP:
            self.attract = attract  # type: ignore[assignment]

    @property
    def ready(self) -> bool:
        return self.interpreter is not None

    # -- visitors ----------------------------------------------------------------------------------
    def subscribe(self, visitor: str, send: Send) -> None:
        self._subscribers[visitor] = send

    def unsubscribe(self, visitor: str) -> None:
        self._subscribers.pop(visitor, None)
        if self.queue.remove_visitor(visitor):
            log.debug("a visitor left; their pending prompt was withdrawn")

    # -- what visitors are told about the show ------------------------------------------------------------
    def opens_at(self) -> dt.datetime | None:
        """When the show next opens while it is closed; None while it is open (or has no hours)."""
        if self.hours is None:
            return None
        now = self.now()
        if self.hours.is_open(now):
            return None
        return self.hours.next_opening(now) or dt.datetime.max

    def visitor_state(self) -> dict:
        """The ``status`` message for visitors: accepting prompts or not, and why (see the module docstring)."""
        opens = self.opens_at()
        if opens is not None:
            known = opens != dt.datetime.max
            text = f"{CLOSED} It opens {_when(opens, self.now())}." if known else CLOSED
            return {
                "type": "status",
                "accepting": False,
                "note": "closed",
                "opens_at": opens.isoformat(timespec="minutes") if known else None,
                "text": text,
            }
        if not self.ready:
            return {"type": "status", "accepting": True, "note": "warming_up", "opens_at": None, "text": WARMING_UP}
        if self.is_pinned():
            return {"type": "status", "accepting": True, "note": "pinned", "opens_at": None, "text": PINNED}
        return {"type": "status", "accepting": True, "note": None, "opens_at": None, "text": ""}

    async def _tell_visitors(self) -> None:
        """Send ``visitor_state()`` to every visitor when it has changed since it was last sent."""
        state = self.visitor_state()
        if self._told_visitors is None and state["note"] is None:
            self._told_visitors = state  # the plain running state: nobody needs telling at start
        if state == self._told_visitors:
            return
        self._told_visitors = state
        log.info("visitors are told: %s", state["note"] or "the show runs")
        for visitor in list(self._subscribers):
            await self._send(visitor, state)

    async def submit(self, visitor: str, text: str, newcomer: bool = False) -> dict:
        """Moderate and queue a visitor's prompt; the reply for them. ``newcomer``: the visitor connected only
        moments ago (see ``queue``: newcomers share a budget and part of the queue)."""
        text = " ".join(text.split())
        opens = self.opens_at()
        if opens is not None:
            return {"type": "rejected", "reason": self.visitor_state()["text"]}
        if self.moderator is not None:
            verdict = await asyncio.to_thread(self.moderator.check, text)
            if not verdict.allowed:
                self.declined += 1
                return {"type": "rejected", "reason": verdict.reason or DECLINED}
        try:
            prompt = self.queue.add(visitor, text, newcomer)
        except Crowded:
            self.declined += 1
            self._note_flood()
            return {"type": "rejected", "reason": CROWDED}
        except QueueFull:
            return {"type": "rejected", "reason": "Many visitors are waiting right now. Please try again in a minute."}
        except NearDuplicate:
            self.declined += 1
            self._note_flood()
            return {"type": "rejected", "reason": NEAR_DUPLICATE}
        self.accepted += 1
        if self.attract is not None:
            self.attract.activity()
        log.debug("prompt %s queued: %r", prompt.id, text)
        if self._wake is not None:
            self._wake.set()
        return {"type": "queued", "id": prompt.id, "position": self.queue.position(visitor)}

    def _note_flood(self) -> None:
        """Warn the operator once per flood of near-identical prompts or of newcomers (the warning reaches the
        panel)."""
        flooded = self.queue.flooded()
        if flooded and not self._flood_warned:
            log.warning(
                "a flood of prompts: %d refused within %.0f s as near-identical or from too many new "
                "connections (one visitor with many addresses?); newcomers hold at most %d places in the queue",
                self.queue.flood_refusals,
                self.queue.flood_window_s,
                self.queue.newcomer_places,
            )
        self._flood_warned = flooded

    # -- operators -----------------------------------------------------------------------------------
    def skip(self) -> None:
        """End the current prompt's turn now."""
        self.shown_at = -1e9
        if self._wake is not None:
            self._wake.set()

    def remove(self, prompt_id: str) -> bool:
        return self.queue.remove(prompt_id) is not None

    # -- turns ---------------------------------------------------------------------------------------
    def turn_due(self) -> bool:
        return self.clock() - self.shown_at >= self.settings.min_show_s

    async def step(self) -> Prompt | None:
        """Give the next prompt its turn if the current one has had its time; returns it."""
        await self._tell_visitors()
        for p in self.queue.expire():
            await self._send(
                p.visitor, {"type": "rejected", "reason": "Your prompt waited too long; please send it again."}
            )
        if self.is_pinned() or self.opens_at() is not None:  # prompts wait (none come in while closed)
            return None
        if not len(self.queue):
            self._wander()
            return None
        if not self.turn_due() or not self.ready:
            return None
        prompt = self.queue.pop()
        if prompt is None:
            return None
        await self.show(prompt)
        for p in self.queue.pending():
            await self._send(p.visitor, {"type": "queued", "id": p.id, "position": self.queue.position(p.visitor)})
        return prompt

    async def show(self, prompt: Prompt) -> Interpretation:
        interp = await asyncio.to_thread(self._interpret, prompt.text)
        if self.mode == "attract" and self.attract_source:
            self.post(SelectSource("live"))  # somebody is here: back to the room
        self.post(TargetChanged(interp.mix, label=prompt.text))
        self.post(SetSmoothing(interp.params["smoothing"]))
        if self.generator_latent is not None:
            latent = await asyncio.to_thread(self.generator_latent, prompt.text)
            self.post(SteerGenerator(tuple(float(v) for v in latent)))
        self.current, self.current_interpretation, self.shown_at = prompt, interp, self.clock()
        self.mode = "prompt"
        if self.attract is not None:
            self.attract.activity()
        log.debug(
            "showing %s: %r -> %s",
            prompt.id,
            prompt.text,
            {k: v for k, v in interp.mix.named(self._loaded_interpreter().names).items() if v > 0.01},
        )
        await self._send(prompt.visitor, {"type": "showing", "id": prompt.id, "text": prompt.text})
        return interp

    def _wander(self) -> None:
        """Attract mode: with nobody prompting for a while, drift through the styles."""
        if self.attract is None:
            return
        target = self.attract.next_target(self.base_strength)
        if target is None:
            return
        if self.mode != "attract":
            log.info("no prompts for %.0f s: attract mode", self.attract.settings.idle_s)
            if self.attract_source:
                self.post(SelectSource(self.attract_source))
            if self.generator_latent is not None:  # the last visitor's place fades: the dream wanders again
                self.post(ReleaseGenerator())
        self.mode, self.current, self.current_interpretation = "attract", None, None
        self.post(TargetChanged(target, seconds=self.attract.settings.transition_s, label="attract"))

    def _loaded_interpreter(self) -> Interpreter:
        if self.interpreter is None:
            raise EngineError("the interpreter is not loaded yet: nothing can be shown")
        return self.interpreter

    def _interpret(self, text: str) -> Interpretation:
        expansions = self.expander.expand(text, self.settings.expansions) if self.expander else []
        interp = self._loaded_interpreter().interpret(text, expansions, self.base_strength)
        warm = interp.params.get("warmth", 0.0)
        mix = type(interp.mix)(interp.mix.weights, interp.mix.strength, warm)
        return Interpretation(mix, interp.params, interp.scores, text)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        self._owner = threading.get_ident()
        wake = self._wake = asyncio.Event()
        while not stop.is_set():
            try:
                await self.step()
            except Exception:  # one bad prompt must not end the show
                log.exception("director step failed")
            try:  # a new prompt or a skip wakes the Director at once; otherwise it looks again every tick_s
                await asyncio.wait_for(wake.wait(), self.settings.tick_s)
            except TimeoutError:
                pass
            wake.clear()

    async def _send(self, visitor: str, message: dict) -> None:
        send = self._subscribers.get(visitor)
        if send is None:
            return
        try:
            await send(message)
        except Exception as exc:  # a visitor who left mid-send is not an error of the show
            log.debug("could not reach a visitor: %s", exc)

    def status(self) -> dict:
        interp = self.current_interpretation
        return {
            "prompt": self.current.text if self.current else None,
            "mix": interp.mix.named(self.interpreter.names) if interp and self.interpreter else {},
            "queue_length": len(self.queue),
            "mode": self.mode,
            "accepted": self.accepted,
            "declined": self.declined,
            "ready": self.ready,
            "pinned": bool(self.is_pinned()),
            "opens_at": _iso(self.opens_at()),
        }


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None or when == dt.datetime.max else when.isoformat(timespec="minutes")


def _when(opens: dt.datetime, now: dt.datetime) -> str:
    """'at 10:00 today', 'at 10:00 tomorrow', 'on Friday at 10:00' (English, the show's local time)."""
    clock = opens.strftime("%H:%M")
    days = (opens.date() - now.date()).days
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    return f"on {opens.strftime('%A')} at {clock}"
