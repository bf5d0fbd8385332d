"""The bus's semantics, the same test bodies on the in-process bus and on Redis; then what only Redis does:
a node that was away reads what it missed, an outage loses nothing accepted, nodes seen gone and back."""

import threading

import pytest

from engine.events import Blackout, Snapshot, Stop, TargetChanged
from engine.loop import FrameLoop
from engine.pipeline import Stylizer
from engine.sinks.headless import HeadlessSink
from engine.sources.pattern import PatternSource
from engine.style import StyleMix
from installation.bus.build import build_bus
from installation.bus.inprocess import InProcessBus
from installation.bus.settings import BusSettings
from tests.installation.bus.redis_child import wait_for


class RunningLoop:
    """A real frame loop (tiny ONNX model, pattern source, headless sink) running on its own thread."""

    def __init__(self, tiny_model) -> None:
        from engine.backends.onnxruntime import OnnxRuntimeBackend

        stylizer = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
        source = PatternSource(width=64, height=36, fps=60)
        source.open()
        self.loop = FrameLoop(source, stylizer, [HeadlessSink()], StyleMix.single(3, 0), (64, 36), display_fps=60)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)

    def __enter__(self) -> FrameLoop:
        self.thread.start()
        return self.loop

    def __exit__(self, *exc) -> None:
        self.loop.post(Stop())
        self.thread.join(timeout=10)


def settings(url: str, role: str, name: str = "n1", **kw) -> BusSettings:
    return BusSettings(url=url, role=role, node=name, heartbeat_s=0.2, node_gone_s=1.0, hub_gone_s=2.0, **kw)


class Pair:
    """A hub-side bus and a node-side bus following ``loop`` (one object for the in-process bus)."""

    def __init__(self, kind: str, loop: FrameLoop, redis_url: str = "") -> None:
        initial = loop.target
        if kind == "inprocess":
            self.hub = self.node = build_bus(BusSettings(), loop.post, initial)
            assert isinstance(self.hub, InProcessBus)
        else:
            self.hub = build_bus(settings(redis_url, "hub"), None, initial)
            self.node = build_bus(settings(redis_url, "node"), None, initial)
            self.node.follow(loop)
        self.hub.start()
        if self.node is not self.hub:
            self.node.start()

    def close(self) -> None:
        self.hub.stop()
        self.node.stop()


@pytest.fixture(params=["inprocess", "redis"])
def bus_kind(request):
    return request.param


@pytest.fixture()
def pair_factory(bus_kind, request):
    made = []

    def make(loop):
        url = request.getfixturevalue("redis_server").url if bus_kind == "redis" else ""
        pair = Pair(bus_kind, loop, url)
        made.append(pair)
        return pair

    yield make
    for pair in made:
        pair.close()


def test_a_decision_reaches_the_frame_loop(tiny_model, pair_factory):
    """A target and a blackout posted on the hub side are what the frame loop shows."""
    with RunningLoop(tiny_model) as loop:
        pair = pair_factory(loop)
        mix = StyleMix.single(3, 2)
        assert pair.hub.post(TargetChanged(mix, seconds=0.0, label="harbour"))
        assert pair.hub.post(Blackout(True))
        wait_for(lambda: loop.state.target == mix and loop.state.blackout, 30, "the target and blackout arrive")
        assert loop.label == "harbour"


def test_the_later_decision_wins(tiny_model, pair_factory):
    """Decisions arrive in order: of two targets posted one after the other, the second is shown."""
    with RunningLoop(tiny_model) as loop:
        pair = pair_factory(loop)
        first, second = StyleMix.single(3, 1), StyleMix.single(3, 2)
        pair.hub.post(TargetChanged(first, seconds=0.0))
        pair.hub.post(TargetChanged(second, seconds=0.0))
        wait_for(lambda: loop.state.target == second, 30, "the second target")


def test_a_node_that_was_away_reads_what_it_missed(tiny_model, redis_server, tmp_path):
    """A node stopped while the hub decided gets every missed decision from its consumer group on return."""
    with RunningLoop(tiny_model) as loop:
        hub = build_bus(settings(redis_server.url, "hub"), None, loop.target)
        hub.start()
        node = build_bus(settings(redis_server.url, "node"), None, loop.target)
        node.follow(loop)
        node.start()
        wait_for(lambda: node.connected and redis_server.client().exists("laterna:events"), 30, "the node's group")
        wait_for(lambda: redis_server.client().xinfo_groups("laterna:events"), 30, "the node's group exists")
        node.stop()
        shot = tmp_path / "missed.png"
        mix = StyleMix.single(3, 1)
        hub.post(TargetChanged(mix, seconds=0.0, label="while away"))
        hub.post(Snapshot(shot))
        wait_for(lambda: redis_server.client().xlen("laterna:events") >= 2, 30, "the hub wrote both")
        assert loop.state.target != mix
        again = build_bus(settings(redis_server.url, "node"), None, loop.target)
        again.follow(loop)
        again.start()
        try:
            wait_for(lambda: again.received >= 2, 30, "the missed entries are read and acknowledged")
            wait_for(lambda: loop.state.target == mix and shot.exists(), 30, "the missed target and snapshot")
            assert redis_server.client().xpending("laterna:events", "n1")["pending"] == 0
        finally:
            again.stop()
            hub.stop()


def test_a_redis_outage_loses_nothing_accepted_and_the_loop_keeps_rendering(tiny_model, redis_server):
    """Redis killed: the loop keeps showing frames, the hub still accepts a decision; Redis back: it arrives."""
    with RunningLoop(tiny_model) as loop:
        hub = build_bus(settings(redis_server.url, "hub"), None, loop.target)
        node = build_bus(settings(redis_server.url, "node"), None, loop.target)
        node.follow(loop)
        hub.start()
        node.start()
        try:
            first = StyleMix.single(3, 1)
            hub.post(TargetChanged(first, seconds=0.0))
            wait_for(lambda: loop.state.target == first, 30, "the first target")
            redis_server.kill()
            wait_for(lambda: not node.connected and not hub.connected, 30, "both see the outage")
            frames = loop.stats.frames
            second = StyleMix.single(3, 2)
            assert hub.post(TargetChanged(second, seconds=0.0, label="during the outage"))
            wait_for(lambda: loop.stats.frames >= frames + 20, 20, "frames keep coming without Redis")
            assert loop.state.target == first
            redis_server.start()
            wait_for(lambda: loop.state.target == second, 20, "the decision accepted during the outage")
            assert loop.label == "during the outage"
        finally:
            node.stop()
            hub.stop()


def test_the_hub_sees_a_node_gone_and_back(tiny_model, redis_server):
    """A node that stops its heartbeat is shown gone once its heartbeat key expires (the TTL, not a message)
    and green again when it returns; the hub says new, gone, back once each."""
    with RunningLoop(tiny_model) as loop:
        hub = build_bus(settings(redis_server.url, "hub"), None, loop.target)
        changes = []
        hub.on_node_change.append(lambda name, change: changes.append((name, change)))
        hub.start()
        node = build_bus(settings(redis_server.url, "node"), None, loop.target)
        node.follow(loop)
        node.start()
        try:
            wait_for(lambda: [n.health for n in hub.nodes()] == ["green"], 30, "the node is green")
            node.stop()
            wait_for(lambda: [n.health for n in hub.nodes()] == ["gone"], 30, "the node is gone")
            node = build_bus(settings(redis_server.url, "node"), None, loop.target)
            node.follow(loop)
            node.start()
            wait_for(lambda: [n.health for n in hub.nodes()] == ["green"], 30, "the node is back")
            assert changes == [("n1", "new"), ("n1", "gone"), ("n1", "back")]
        finally:
            node.stop()
            hub.stop()


def test_without_the_hub_a_node_wanders_on_its_own(tiny_model, redis_server):
    """The hub gone for hub_gone_s: the node's own attract mode moves the picture; the hub back: it leads."""
    from installation.control.schedule import AttractMode
    from installation.control.settings import AttractSettings

    with RunningLoop(tiny_model) as loop:
        node = build_bus(settings(redis_server.url, "node"), None, loop.target)
        node.follow(loop, AttractMode(3, AttractSettings(every_s=0.5, transition_s=0.0), seed=1))
        start = loop.state.target
        node.start()
        try:
            wait_for(lambda: node.alone, 30, "the node goes its own way")
            wait_for(lambda: loop.state.label == "attract" and loop.state.target != start, 30, "it wanders")
            hub = build_bus(settings(redis_server.url, "hub"), None, StyleMix.single(3, 2))
            hub.start()
            try:
                wait_for(lambda: not node.alone and loop.state.target == StyleMix.single(3, 2), 30, "the hub leads")
            finally:
                hub.stop()
        finally:
            node.stop()
