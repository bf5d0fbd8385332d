"""The bus on Redis: a hub and render nodes on several machines (``redis`` asyncio client, extra ``[cluster]``).

What travels (keys under ``bus.prefix``, default ``laterna``):

- ``laterna:events``, a stream read by one consumer group per node: every decision (accepted prompts'
  targets, operator commands, config changes) with the full state after it. Nodes acknowledge what they
  have applied; a node that was away reads what it missed from its group, and a hub that cannot reach
  Redis keeps what it accepted in its outbox and sends it when Redis is back. Nothing accepted is lost.
- ``laterna:state``, a key and a pub/sub channel: the full ``ShowState`` several times a second, so a lost
  message costs nothing and a node started late has the current look at once.
- Zones (``bus.zones`` on the hub): each zone has its own stream ``laterna:zone:<zone>:events`` and state
  key and channel ``laterna:zone:<zone>:state``; the plain ``laterna:events`` and ``laterna:state`` carry the
  default (first) zone's, for a node whose zone the hub does not direct. Without zones the plain keys are
  the whole show's, as they always were. A node follows its zone's keys when the hub (its key lists its
  zones) directs that zone, else the plain ones, and switches when the hub's zones change.
- ``laterna:hub`` and ``laterna:node:<name>``, keys with a TTL: the hub is alive (and its zones); each node's heartbeat
  (fps, frame p99, errors, source, backend, model hash, version, zone, its glide on the hub's clock);
  ``laterna:preview:<name>``: a node's small, size-capped JPEG.

One clock: every process estimates the offset of Redis ``TIME`` (the hub's machine) from its own monotonic
clock by round trips (the sample with the shortest round trip wins); glides start on that clock, and a node
moves the start onto its loop's clock, so all projectors pass through the same mix at the same moment.

Threads: the bus runs its own asyncio loop on its own thread. ``post`` only queues (hub side); a node
posts the hub's decisions into its frame loop's queue. Nothing on the render thread ever waits for Redis:
when Redis is down the loop renders its last state at full rate; the bus says so once, retries with
back-off and resumes from its consumer group.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.events import Blackout, Event, FollowGlide, Freeze, SelectSource, SetSmoothing, SetTransition, TargetChanged
from engine.notice import Notice
from engine.style import StyleMix
from engine.transition import Glide
from installation.bus import connect
from installation.bus.base import Bus, NodeStatus
from installation.bus.codec import BusMessageError, decode_event, encode_event, mix_to_dict
from installation.bus.settings import BusSettings, redact
from installation.bus.state import STATE_EVENTS, ShowState, StateKeeper

log = logging.getLogger(__name__)

VERSION = "0.1.0"
STREAM_MAXLEN = 10_000  # entries kept in the stream (a node away for longer starts from the state key)
OUTBOX_MAX = 10_000  # decisions a hub keeps while Redis is unreachable
BACKOFF_S = (0.2, 5.0)  # reconnect back-off: first and longest wait


class HubClock:
    """Seconds on Redis's clock (the hub's machine), read from this process's monotonic clock plus an offset.

    Before the first round trip the offset is the wall clock's, so even an unsynchronised process is
    only as wrong as its machine's wall clock."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()
        self.rtt_ms: float | None = None

    def now(self) -> float:
        return time.monotonic() + self.offset

    def to_local(self, hub_t: float) -> float:
        """A hub time on this process's monotonic clock (the frame loop's clock)."""
        return hub_t - self.offset

    async def sync(self, client: Any, samples: int = 7) -> None:
        best: tuple[float, float] | None = None
        for _ in range(samples):
            t0 = time.monotonic()
            sec, usec = await client.time()
            t1 = time.monotonic()
            sample = (t1 - t0, sec + usec / 1e6 - (t0 + t1) / 2)
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        self.rtt_ms, self.offset = best[0] * 1000.0, best[1]


def default_node_name(zone: str) -> str:
    return f"{socket.gethostname()}-{zone}"


class RedisBus(Bus):
    """Hub side (role hub/both): ``post`` -> state keeper -> stream + state broadcast; watches the nodes.
    Node side (role node/both, ``follow``): stream + broadcast -> the frame loop; heartbeats and previews."""

    def __init__(
        self,
        settings: BusSettings,
        *,
        initial: StyleMix,
        transition_s: float = 3.0,
        ease: str = "smoothstep",
        base: Path | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.effective_url()
        if not self.url:
            raise EngineError("RedisBus needs bus.url or $LATERNA_BUS_URL")
        self.where = redact(self.url)
        connect.check(settings, self.url)  # an unreadable password file, TLS files for a plain URL: said now
        self.role = settings.role
        self.name = settings.node or default_node_name(settings.zone)
        self.base = base
        self.clock = HubClock()
        p = settings.prefix
        self.k_events, self.k_state, self.k_hub = f"{p}:events", f"{p}:state", f"{p}:hub"
        self.k_node, self.k_preview = f"{p}:node:", f"{p}:preview:"
        # hub side (bus thread owns the keepers and the outbox; others read ``keeper.state``, swapped whole)
        self.hub = settings.role in ("hub", "both")
        self.zones: tuple[str, ...] = tuple(settings.zones) if self.hub else ()
        self.default_zone = self.zones[0] if self.zones else ""  # "": the whole show, one look
        self.keepers = {
            zone: StateKeeper(initial, transition_s, ease, clock=self.clock.now) for zone in self.zones or ("",)
        }
        self.modes: dict[str, Callable[[], str]] = {}  # each zone's Director's mode, for the broadcast
        self._outbox: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._strays: set[str] = set()  # nodes of zones this hub does not direct (warned once each)
        self._nodes: dict[str, NodeStatus] = {}
        self._previews: dict[str, bytes] = {}
        self.on_node_change: list[Callable[[str, str], object]] = []  # (name, "gone" | "back"), bus thread
        # node side
        self.loop: Any = None  # the frame loop followed (post, state, stats, on_screen)
        self.attract: Any = None  # AttractMode for when the hub is gone
        self.model_hash = ""
        self.applied: ShowState | None = None
        self.received = 0  # stream entries applied and acknowledged (not those skipped as another zone's)
        self.latencies_ms: collections.deque[float] = collections.deque(maxlen=2000)
        self.alone = False  # the hub has been gone for hub_gone_s: local attract mode
        self.follows: str | None = None  # the zone whose keys this node reads ("": the plain ones); None: not yet
        self._since = -math.inf  # hub time this node moved to the zone it follows: older entries are not its own
        self._hub_seen = time.monotonic()
        # the thread
        self._thread: threading.Thread | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._caught_up = threading.Event()  # a node has posted the hub's state into its loop once
        self._down = Notice(log)
        self._bad = Notice(log)
        self.connected = False

    # -- wiring --------------------------------------------------------------------------------------
    def follow(self, loop: Any, attract: Any = None, model_hash: str = "") -> None:
        """Render node: post the hub's decisions into ``loop``; wander with ``attract`` while the hub is gone."""
        self.loop, self.attract, self.model_hash = loop, attract, model_hash

    def keys(self, zone: str) -> tuple[str, str]:
        """The stream and the state key (and channel) of ``zone``; "" is the plain, whole-show pair."""
        p = self.settings.prefix
        return (f"{p}:zone:{zone}:events", f"{p}:zone:{zone}:state") if zone else (self.k_events, self.k_state)

    @property
    def keeper(self) -> StateKeeper:
        """The default zone's state keeper (the whole show's when the hub has no zones)."""
        return self.keepers[self.default_zone]

    def keeper_of(self, zone: str | None) -> StateKeeper:
        """``zone``'s state keeper; the default zone's for None or ""."""
        return self.keepers[zone] if zone else self.keeper

    @property
    def mode(self) -> Callable[[], str]:
        return self.modes.get(self.default_zone, lambda: "")

    @mode.setter
    def mode(self, read: Callable[[], str]) -> None:
        self.modes[self.default_zone] = read

    # -- any thread ----------------------------------------------------------------------------------
    def post(self, event: Event, zone: str | None = None) -> bool:
        """Send one decision to ``zone``'s nodes; None: to every zone (the whole show)."""
        aloop = self._aloop
        if not self.hub or aloop is None or aloop.is_closed():
            log.warning("the bus is not running; %s dropped", type(event).__name__)
            return False
        if zone is not None and zone not in self.keepers:
            log.warning("the hub does not direct a zone %r; %s dropped", zone, type(event).__name__)
            return False
        if len(self._outbox) >= OUTBOX_MAX:
            log.warning("%d decisions wait for Redis at %s; %s refused", OUTBOX_MAX, self.where, type(event).__name__)
            return False
        try:
            aloop.call_soon_threadsafe(self._take, event, self.clock.now(), zone)
        except RuntimeError:  # the bus's loop closed meanwhile
            return False
        return True

    @property
    def state(self) -> ShowState | None:
        return self.keeper.state if self.hub else self.applied

    def nodes(self) -> list[NodeStatus]:
        return sorted(self._nodes.values(), key=lambda n: n.name)

    def preview(self, node: str) -> bytes | None:
        return self._previews.get(node)

    def status(self) -> dict[str, Any]:
        return {
            "kind": "redis",
            "url": self.where,
            "role": self.role,
            "connected": self.connected,
            "clock_rtt_ms": self.clock.rtt_ms,
            "waiting": len(self._outbox),
            "zones": list(self.zones),
            "nodes": {n.name: n.health for n in self.nodes()},
        }

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="laterna-bus", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        if self.loop is not None and self.role in ("node", "both"):
            # Start-up only, before the frame loop runs: give the hub's current look (the state key, read
            # on connect) up to timeout_s to reach the loop's queue, so the first frame already shows it.
            self._caught_up.wait(self.settings.timeout_s)
        log.info("bus: Redis at %s as %s%s", self.where, self.role, "" if self.role == "hub" else f" ({self.name})")

    def stop(self) -> None:
        thread, aloop, main = self._thread, self._aloop, self._main
        if thread is None:
            return
        if aloop is not None and main is not None and not aloop.is_closed():
            try:
                aloop.call_soon_threadsafe(main.cancel)
            except RuntimeError:
                pass
        thread.join(timeout=5.0)
        if thread.is_alive():
            log.warning("the bus thread did not stop within 5 s")
        self._thread = None

    # -- the bus thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        aloop = asyncio.new_event_loop()
        self._aloop = aloop
        try:
            self._main = aloop.create_task(self._all())
            self._ready.set()
            aloop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            aloop.run_until_complete(aloop.shutdown_asyncgens())
            aloop.close()

    async def _all(self) -> None:
        self._wake = asyncio.Event()
        jobs: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [("clock", self._sync_clock)]
        if self.hub:
            jobs += [("hub", self._hub_send), ("nodes", self._hub_watch)]
        if self.loop is not None and self.role in ("node", "both"):
            jobs += [("stream", self._node_stream), ("state", self._node_state), ("heartbeat", self._node_beat)]
        tasks = [asyncio.create_task(self._guard(name, job)) for name, job in jobs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _client(self) -> Any:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        s = self.settings
        kwargs: dict[str, Any] = {
            "socket_timeout": s.timeout_s,
            "socket_connect_timeout": s.timeout_s,
            "retry": Retry(NoBackoff(), 0),
            **connect.client_options(s, self.url),  # user, password (read afresh), TLS files
        }
        return redis.Redis.from_url(self.url, **kwargs)

    async def _guard(self, what: str, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``job`` for ever: on a Redis failure say so once, wait (growing back-off), run it again."""
        from redis.exceptions import RedisError

        wait = BACKOFF_S[0]
        while True:
            started = time.monotonic()
            try:
                await job()
                return
            except (RedisError, OSError, TimeoutError, EngineError) as exc:
                self.connected = False
                self._down.fail(connect.explain(exc, self.where, self.settings))
                log.debug("bus job %s failed: %s", what, type(exc).__name__)
            if time.monotonic() - started > 10.0:
                wait = BACKOFF_S[0]  # it ran well for a while: this is a new outage
            await asyncio.sleep(wait)
            wait = min(wait * 2, BACKOFF_S[1])

    def _up(self) -> None:
        self.connected = True
        self._down.clear(f"bus: Redis at {self.where} is reachable again")

    async def _sync_clock(self) -> None:
        client = self._client()
        try:
            while True:
                await self.clock.sync(client)
                self._up()
                await asyncio.sleep(10.0)
        finally:
            await client.aclose()

    # -- hub -------------------------------------------------------------------------------------------
    def _take(self, event: Event, t_hub: float, zone: str | None = None) -> None:
        """(bus thread) One decision: into the state of its zone (every zone for None), into the outbox, the
        sender woken."""
        try:
            encoded = encode_event(event)
        except BusMessageError as exc:
            log.warning("bus: %s", exc)
            return
        for name in self.keepers if zone is None else (zone,):
            keeper = self.keepers[name]
            keeper.apply(event)
            self._outbox.append((name, {"event": encoded, "state": keeper.state.to_dict(), "t": t_hub}))
        if self._wake is not None:
            self._wake.set()

    def _state_message(self, zone: str = "") -> str:
        state = self.keeper_of(zone).state.to_dict()
        state["mode"] = self.modes.get(zone or self.default_zone, lambda: "")()
        return json.dumps({"state": state, "t": self.clock.now()})

    def _channels(self, zone: str) -> list[tuple[str, str]]:
        """Where ``zone``'s stream entries and states go, as (stream, state key) pairs: its own keys; the
        default zone's also to the plain ones, which nodes of zones the hub does not direct follow."""
        plain = [(self.k_events, self.k_state)] if zone and zone == self.default_zone else []
        return [self.keys(zone), *plain]

    async def _hub_send(self) -> None:
        """The outbox to the stream (oldest first, each removed only once Redis has it), the full state to
        its key and channel ``state_hz`` times a second, the hub's own heartbeat key."""
        s, client = self.settings, self._client()
        assert self._wake is not None
        try:
            while True:
                while self._outbox:
                    zone, entry = self._outbox[0]
                    fields = {"m": json.dumps(entry)}
                    pipe = client.pipeline(transaction=False)
                    for stream, _ in self._channels(zone):
                        pipe.xadd(stream, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
                    await pipe.execute()
                    self._outbox.popleft()
                pipe = client.pipeline(transaction=False)
                for zone in self.keepers:
                    message = self._state_message(zone)
                    for _, key in self._channels(zone):
                        pipe.set(key, message)
                        pipe.publish(key, message)
                hub = {"t": self.clock.now(), "pid": os.getpid(), "zones": list(self.zones)}
                pipe.set(self.k_hub, json.dumps(hub), px=int(s.hub_gone_s * 1000))
                await pipe.execute()
                self._up()
                self._wake.clear()
                if self._outbox:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), 1.0 / s.state_hz)
                except TimeoutError:
                    pass
        finally:
            await client.aclose()

    async def _hub_watch(self) -> None:
        """Every node's heartbeat twice a second: green, late, or gone (its key expired); previews."""
        s, client = self.settings, self._client()
        late_after = 2.5 * s.heartbeat_s
        last_previews = 0.0
        try:
            while True:
                keys = [k async for k in client.scan_iter(match=self.k_node + "*", count=200)]
                values = await client.mget(keys) if keys else []
                now = self.clock.now()
                seen: dict[str, NodeStatus] = {}
                for value in values:
                    try:
                        report = json.loads(value)
                        name = str(report["name"])
                        age = max(0.0, now - float(report["t"]))
                    except (TypeError, ValueError, KeyError):
                        continue
                    health = "green" if age <= late_after else "late"
                    seen[name] = NodeStatus(name, health, str(report.get("zone", "")), round(age, 2), report)
                    self._stray(name, seen[name].zone)
                nodes = dict(self._nodes)
                for name, old in nodes.items():
                    if name not in seen and old.health != "gone":
                        seen[name] = NodeStatus(name, "gone", old.zone, old.age_s, old.report)
                        self._tell(name, "gone")
                    elif name not in seen:
                        seen[name] = old
                for name, new in seen.items():
                    old_status = nodes.get(name)
                    if new.health != "gone" and (old_status is None or old_status.health == "gone"):
                        self._tell(name, "back" if old_status is not None else "new")
                self._nodes = seen
                self._up()
                if time.monotonic() - last_previews >= s.preview_every_s and s.preview_kb:
                    last_previews = time.monotonic()
                    names = [n for n, st in seen.items() if st.health != "gone"]
                    if names:
                        jpegs = await client.mget([self.k_preview + n for n in names])
                        self._previews = {n: j for n, j in zip(names, jpegs) if j}
                await asyncio.sleep(0.5)
        finally:
            await client.aclose()

    def _stray(self, name: str, zone: str) -> None:
        """Warn once about a node of a zone this hub does not direct: it shows the default zone."""
        if self.zones and zone not in self.zones and name not in self._strays:
            self._strays.add(name)
            log.warning(
                "render node %s is in zone %r, which this hub does not direct (bus.zones: %s); it shows %s",
                name,
                zone,
                ", ".join(self.zones),
                self.default_zone,
            )

    def _tell(self, name: str, change: str) -> None:
        if change == "gone":
            log.warning("render node %s is gone (no heartbeat for %.0f s)", name, self.settings.node_gone_s)
        elif change == "back":
            log.warning("render node %s is back", name)
        else:
            log.info("render node %s joined", name)
        for hook in self.on_node_change:
            try:
                hook(name, change)
            except Exception:  # an alert that fails must not stop the watch
                log.exception("node-change alert for %s failed", name)

    # -- node --------------------------------------------------------------------------------------------
    def _directed(self, raw_hub: bytes | str | None) -> bool | None:
        """Whether the hub's key (its value) says it directs this node's zone; None without a readable key."""
        if not raw_hub:
            return None
        try:
            zones = json.loads(raw_hub).get("zones") or []
        except (TypeError, ValueError, AttributeError):
            return None
        return self.settings.zone in zones

    async def _choose(self, client: Any) -> str:
        """The zone whose keys to follow: this node's if the hub directs it (its key says so; without a hub,
        if that zone's state key exists), else "" (the plain keys: the whole show, or the default zone)."""
        zone = self.settings.zone
        directed = self._directed(await client.get(self.k_hub))
        if directed is None:
            directed = bool(await client.exists(self.keys(zone)[1]))
        follows = zone if directed else ""
        if follows != self.follows:
            log.info("bus: following %s", f"zone {zone}" if follows else "the show's plain keys (no zone of its own)")
            self._move(follows)
        return follows

    def _move(self, follows: str) -> None:
        """(bus thread) Follow ``follows``'s keys from now on. A move from another zone (not the start) skips
        what that stream kept from before: it was decided for other rooms while this node was away from it."""
        if self.follows is not None:
            self._since = self.clock.now()
        self.follows, self.applied = follows, None

    async def _node_stream(self) -> None:
        """This node's consumer group on its zone's stream: what it missed first (pending), then new entries;
        chosen again when the hub's zones change (``_node_beat`` notices)."""
        client = self._client()
        try:
            while True:
                await self._follow_stream(client, await self._choose(client))
        finally:
            await client.aclose()

    async def _follow_stream(self, client: Any, follows: str) -> None:
        """Read ``follows``'s stream until this node follows another zone."""
        from redis.exceptions import ResponseError

        events, state = self.keys(follows)
        try:
            await client.xgroup_create(events, self.name, id="$", mkstream=True)
            log.info("bus: consumer group %s created on %s", self.name, events)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        raw = await client.get(state)  # a node started late has the current look at once
        if raw:
            self._offer(raw, from_stream=False)
        pending = True
        while self.follows == follows:
            reply = await client.xreadgroup(
                self.name,
                self.name,
                {events: "0" if pending else ">"},
                count=200,
                block=None if pending else 500,
            )
            entries = reply[0][1] if reply else []
            self._up()
            if pending and not entries:
                pending = False
                continue
            if entries:
                if self.follows == follows:  # else this node moved to another zone while it waited: not its own
                    self.received += self._apply_entries(entries, events)
                await client.xack(events, self.name, *[entry_id for entry_id, _ in entries])

    def _apply_entries(self, entries: list[Any], stream: str = "") -> int:
        """Non-state events (snapshots, generator steering) each in order; the newest full state once. Returns
        how many entries were this node's to apply."""
        newest: dict[str, Any] | None = None
        applied = 0
        for _entry_id, fields in entries:
            try:
                message = json.loads(fields[b"m"])
                event = decode_event(message["event"])
                state = message["state"]
                t = float(message["t"])
            except (KeyError, TypeError, ValueError, BusMessageError) as exc:
                self._bad.fail(f"bus: a message on {stream or self.k_events} was not understood ({exc}); skipped")
                continue
            if t < self._since:  # written before this node moved to this zone's stream
                continue
            self.latencies_ms.append((self.clock.now() - t) * 1000.0)
            if not isinstance(event, STATE_EVENTS) and not self.alone:
                self.loop.post(event)
            newest = state
            applied += 1
        if newest is not None:
            self._apply_state(newest)
        return applied

    async def _node_state(self) -> None:
        """The hub's full-state broadcasts on the channel of the zone this node follows."""
        client = self._client()
        pubsub = client.pubsub()
        channel: str | None = None
        try:
            while True:
                if self.follows is None:  # _node_stream has not chosen yet
                    await asyncio.sleep(0.05)
                    continue
                want = self.keys(self.follows)[1]
                if want != channel:
                    if channel is not None:
                        await pubsub.unsubscribe(channel)
                    await pubsub.subscribe(want)
                    channel = want
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                now = self.keys(self.follows)[1]  # not a channel this node left while it waited
                if message is not None and message.get("channel") in (now, now.encode()):
                    self._offer(message["data"], from_stream=False)
                self._up()
        finally:
            await pubsub.aclose()
            await client.aclose()

    def _offer(self, raw: bytes | str, from_stream: bool) -> None:
        try:
            data = json.loads(raw)
            state = data["state"]
        except (TypeError, ValueError, KeyError) as exc:
            self._bad.fail(f"bus: a state message was not understood ({exc}); skipped")
            return
        self._apply_state(state)

    def _apply_state(self, data: dict[str, Any]) -> None:
        """(bus thread) Post what differs from what this node last applied; newer states only."""
        try:
            state = ShowState.from_dict(data)
        except BusMessageError as exc:
            self._bad.fail(f"bus: {exc}; skipped")
            return
        old = self.applied
        if self.alone or (old is not None and state.seq <= old.seq):
            return
        post = self.loop.post
        ok = True
        if old is None or state.glide != old.glide or state.label != old.label:
            g = state.glide
            local = Glide(g.start, g.target, self.clock.to_local(g.t0), g.duration, g.ease)
            ok = post(FollowGlide(local, state.label)) and ok
        if old is None or (state.transition_s, state.ease) != (old.transition_s, old.ease):
            ok = post(SetTransition(state.transition_s, state.ease)) and ok
        if old is None or state.blackout != old.blackout:
            ok = post(Blackout(state.blackout)) and ok
        if old is None or state.frozen != old.frozen:
            ok = post(Freeze(state.frozen)) and ok
        if state.smoothing is not None and (old is None or state.smoothing != old.smoothing):
            ok = post(SetSmoothing(state.smoothing)) and ok
        if state.source is not None and (old is None or state.source != old.source):
            ok = post(SelectSource(state.source)) and ok
        if ok:  # a full event queue: the next broadcast tries again
            self.applied = state
            self._caught_up.set()

    async def _node_beat(self) -> None:
        """Heartbeat (and now and then a preview) every ``heartbeat_s``; the hub's absence watched."""
        s, client = self.settings, self._client()
        self._hub_seen = time.monotonic()  # (re)connected: the hub gets hub_gone_s to show itself
        last_preview = -math.inf
        try:
            while True:
                raw_hub = await client.get(self.k_hub)
                hub_here = raw_hub is not None
                now = time.monotonic()
                if hub_here:
                    self._hub_seen = now
                    directed = self._directed(raw_hub)
                    want = self.settings.zone if directed else ""
                    if self.follows is not None and directed is not None and want != self.follows:
                        log.info("bus: the hub's zones changed; following %s", f"zone {want}" if want else "the show")
                        self._move(want)
                    if self.alone:
                        log.warning("bus: the hub is back; showing what it decides again")
                        self.alone, self.applied = False, None
                elif not self.alone and now - self._hub_seen > s.hub_gone_s:
                    log.warning("bus: no word from the hub for %.0f s; local attract mode", s.hub_gone_s)
                    self.alone = True
                    if self.attract is not None:
                        self.attract.last_activity = -math.inf
                        self.attract.last_move = -math.inf
                if self.alone and self.attract is not None:
                    target = self.attract.next_target(self.loop.state.target.strength or 1.0)
                    if target is not None:
                        self.loop.post(Blackout(False))
                        self.loop.post(Freeze(False))
                        self.loop.post(
                            TargetChanged(target, seconds=self.attract.settings.transition_s, label="attract")
                        )
                pipe = client.pipeline(transaction=False)
                pipe.set(self.k_node + self.name, json.dumps(self.report()), px=int(s.node_gone_s * 1000))
                if s.preview_kb and now - last_preview >= s.preview_every_s:
                    jpeg = self._preview_jpeg()
                    if jpeg is not None:
                        pipe.set(self.k_preview + self.name, jpeg, px=int(max(s.node_gone_s, s.preview_every_s) * 3000))
                    last_preview = now
                await pipe.execute()
                self._up()
                await asyncio.sleep(s.heartbeat_s)
        finally:
            await client.aclose()

    def report(self) -> dict[str, Any]:
        """This node's heartbeat: how it renders and what it shows (its glide on the hub's clock)."""
        stats = self.loop.stats.snapshot()
        ls = self.loop.state
        g = ls.glide
        applied = self.applied
        return {
            "name": self.name,
            "zone": self.settings.zone,
            "follows": self.follows,
            "t": self.clock.now(),
            "pid": os.getpid(),
            "fps": stats.get("fps"),
            "frame_p99": (stats.get("frame_ms") or {}).get("p99"),
            "frames": stats.get("frames"),
            "errors": stats.get("errors"),
            "source": stats.get("source"),
            "backend": stats.get("backend"),
            "model": self.model_hash,
            "version": VERSION,
            "seq": applied.seq if applied is not None else 0,
            "received": self.received,
            "alone": self.alone,
            "connected": self.connected,
            "blackout": ls.blackout,
            "frozen": ls.frozen,
            "label": ls.label,
            "glide": {
                "start": mix_to_dict(g.start),
                "target": mix_to_dict(g.target),
                "t0": g.t0 + self.clock.offset,
                "duration": g.duration,
                "ease": g.ease,
            },
            "clock_rtt_ms": self.clock.rtt_ms,
        }

    def _preview_jpeg(self) -> bytes | None:
        """The picture on screen, 160 px wide, as a JPEG under ``preview_kb``; None if it will not fit."""
        import cv2
        import numpy as np

        pixels = self.loop.on_screen
        if pixels is None:
            return None
        h, w = pixels.shape[:2]
        small = cv2.resize(np.asarray(pixels), (160, max(1, round(h * 160 / w))), interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        for quality in (70, 40, 20):
            ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(buffer) <= self.settings.preview_kb * 1024:
                return bytes(buffer.tobytes())
        return None
