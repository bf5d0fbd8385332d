"""Zones on the Redis bus (a real redis-server): a hub with ``bus.zones`` keeps a state per zone, and each
render node follows its own zone's stream and state; decisions for one zone reach only its nodes, show-wide
ones reach all; a late node, a node started before the hub, a node of a zone the hub does not direct, and a
Redis outage all behave per zone as they do for the whole show."""

import json
import logging

from engine.events import Blackout, Snapshot, TargetChanged
from engine.style import StyleMix
from installation.bus.build import build_bus
from installation.bus.settings import BusSettings
from tests.installation.bus.redis_child import wait_for
from tests.installation.bus.test_bus import RunningLoop

ZONES = ("room-1", "room-2")


def hub_settings(url: str) -> BusSettings:
    return BusSettings(url=url, role="hub", zones=ZONES, heartbeat_s=0.2, node_gone_s=1.0, hub_gone_s=2.0)


def node_settings(url: str, name: str, zone: str) -> BusSettings:
    return BusSettings(url=url, role="node", node=name, zone=zone, heartbeat_s=0.2, node_gone_s=1.0, hub_gone_s=2.0)


class Node:
    """A render node's bus following a real frame loop of its own."""

    def __init__(self, tiny_model, url: str, name: str, zone: str) -> None:
        self.running = RunningLoop(tiny_model)
        self.loop = self.running.__enter__()
        self.bus = build_bus(node_settings(url, name, zone), None, self.loop.target)
        self.bus.follow(self.loop)
        self.bus.start()

    def close(self) -> None:
        self.bus.stop()
        self.running.__exit__(None, None, None)


class Show:
    """A hub with zones room-1 and room-2, and the nodes a test starts; everything stopped at the end."""

    def __init__(self, tiny_model, url: str) -> None:
        self.tiny_model, self.url = tiny_model, url
        self.hub = build_bus(hub_settings(url), None, StyleMix.single(3, 0))
        self.nodes: list[Node] = []

    def node(self, name: str, zone: str) -> Node:
        node = Node(self.tiny_model, self.url, name, zone)
        self.nodes.append(node)
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        self.hub.stop()


def test_a_decision_for_one_zone_reaches_only_that_zones_nodes(tiny_model, redis_server):
    """A target posted for room-1 is shown by room-1's node; room-2's node reads only room-2's own decision."""
    show = Show(tiny_model, redis_server.url)
    try:
        show.hub.start()
        one, two = show.node("n1", "room-1"), show.node("n2", "room-2")
        wait_for(lambda: one.bus.follows == "room-1" and two.bus.follows == "room-2", 30, "each node on its zone")
        assert show.hub.post(TargetChanged(StyleMix.single(3, 1), seconds=0.0, label="room one"), "room-1")
        assert show.hub.post(TargetChanged(StyleMix.single(3, 2), seconds=0.0, label="room two"), "room-2")
        wait_for(lambda: one.loop.label == "room one" and two.loop.label == "room two", 30, "each zone's look")
        assert one.loop.state.target == StyleMix.single(3, 1) and two.loop.state.target == StyleMix.single(3, 2)
        wait_for(lambda: two.bus.received >= 1, 30, "room-2's entry acknowledged")
        assert two.bus.received == 1 and redis_server.client().xlen("laterna:zone:room-2:events") == 1
        assert not show.hub.post(Blackout(True), "room-9")  # a zone the hub does not direct: refused, said
    finally:
        show.close()


def test_a_show_wide_blackout_reaches_every_zone_and_a_zone_blackout_only_its_own(tiny_model, redis_server):
    """Blackout without a zone: both rooms go black and come back; blackout for room-2: only room-2 does."""
    show = Show(tiny_model, redis_server.url)
    try:
        show.hub.start()
        one, two = show.node("n1", "room-1"), show.node("n2", "room-2")
        show.hub.post(Blackout(True))
        wait_for(lambda: one.loop.blackout and two.loop.blackout, 30, "every zone blacked out")
        show.hub.post(Blackout(False))
        wait_for(lambda: not one.loop.blackout and not two.loop.blackout, 30, "every zone shows again")
        show.hub.post(Blackout(True), "room-2")
        show.hub.post(TargetChanged(StyleMix.single(3, 1), seconds=0.0, label="after"))  # to both, after it
        wait_for(lambda: one.loop.label == "after" and two.loop.label == "after", 30, "the later show-wide look")
        assert two.loop.blackout and not one.loop.blackout
    finally:
        show.close()


def test_a_late_node_of_a_zone_reads_its_zones_state(tiny_model, redis_server):
    """A node of room-2 started after the hub decided both rooms' looks shows room-2's look at once."""
    show = Show(tiny_model, redis_server.url)
    try:
        show.hub.start()
        show.hub.post(TargetChanged(StyleMix.single(3, 1), seconds=0.0, label="room one"), "room-1")
        show.hub.post(TargetChanged(StyleMix.single(3, 2), seconds=0.0, label="late look"), "room-2")
        r = redis_server.client()
        wait_for(
            lambda: (raw := r.get("laterna:zone:room-2:state")) and json.loads(raw)["state"]["label"] == "late look",
            30,
            "room-2's state on its key",
        )
        late = show.node("n2", "room-2")
        wait_for(lambda: late.loop.label == "late look", 30, "the late node shows its zone's look")
        assert late.loop.state.target == StyleMix.single(3, 2) and late.bus.follows == "room-2"
    finally:
        show.close()


def test_a_node_of_a_zone_the_hub_does_not_direct_shows_the_default_zone_and_is_named_once(
    tiny_model, redis_server, caplog
):
    """A node of room-9 follows the plain keys, which carry the default zone (room-1); the hub warns once."""
    show = Show(tiny_model, redis_server.url)
    try:
        with caplog.at_level(logging.WARNING, logger="installation.bus.redis_bus"):
            show.hub.start()
            stray = show.node("n9", "room-9")
            wait_for(lambda: stray.bus.follows == "", 30, "the stray node on the plain keys")
            show.hub.post(TargetChanged(StyleMix.single(3, 2), seconds=0.0, label="default look"), "room-1")
            wait_for(lambda: stray.loop.label == "default look", 30, "the default zone's look on the stray node")
            first = wait_for(lambda: show.hub.nodes() and show.hub.nodes()[0].report["t"], 30, "the hub sees it")
            wait_for(lambda: show.hub.nodes()[0].report["t"] >= first + 1.0, 30, "more heartbeats watched")
        named = [r for r in caplog.records if "n9" in r.getMessage() and "does not direct" in r.getMessage()]
        assert len(named) == 1 and "room-9" in named[0].getMessage()
    finally:
        show.close()


def test_a_node_started_before_the_hub_follows_its_zone_once_the_hub_directs_it(tiny_model, redis_server):
    """With no hub yet a room-2 node reads the plain keys; the hub comes with zones: it follows room-2's."""
    show = Show(tiny_model, redis_server.url)
    try:
        early = show.node("n2", "room-2")
        wait_for(lambda: early.bus.follows == "", 30, "the plain keys while there is no hub")
        show.hub.start()
        wait_for(lambda: early.bus.follows == "room-2", 30, "room-2's keys once the hub directs it")
        show.hub.post(TargetChanged(StyleMix.single(3, 1), seconds=0.0, label="room two"), "room-2")
        wait_for(lambda: early.loop.label == "room two", 30, "room-2's decision")
    finally:
        show.close()


def test_a_redis_outage_loses_nothing_accepted_for_a_zone(tiny_model, redis_server):
    """Redis killed, a room-2 blackout accepted meanwhile, Redis back: it reaches room-2, not room-1, and
    room-2's consumer group has read and acknowledged its zone's whole stream."""
    show = Show(tiny_model, redis_server.url)
    try:
        show.hub.start()
        one, two = show.node("n1", "room-1"), show.node("n2", "room-2")
        wait_for(lambda: one.bus.follows == "room-1" and two.bus.follows == "room-2", 30, "each node on its zone")
        redis_server.kill()
        wait_for(lambda: not show.hub.connected and not two.bus.connected, 30, "the outage seen")
        assert show.hub.post(Blackout(True), "room-2")
        redis_server.start()
        wait_for(lambda: two.loop.blackout, 20, "the blackout accepted during the outage")
        assert not one.loop.blackout
        r = redis_server.client()
        stream = "laterna:zone:room-2:events"
        wait_for(
            lambda: (
                (g := r.xinfo_groups(stream))
                and g[0]["pending"] == 0
                and g[0]["last-delivered-id"] == r.xinfo_stream(stream)["last-generated-id"]
            ),
            30,
            "room-2's group read and acknowledged everything",
        )
    finally:
        show.close()


def test_a_node_moved_back_to_the_plain_keys_skips_what_they_kept_from_before(tiny_model, redis_server, tmp_path):
    """A room-2 node started before the hub (plain keys), then on room-2's keys while room-1's snapshot went to
    the plain stream; moved back to the plain keys by a hub without zones, it does not take that old snapshot."""
    show = Show(tiny_model, redis_server.url)
    plain = build_bus(BusSettings(url=redis_server.url, role="hub", hub_gone_s=2.0), None, StyleMix.single(3, 0))
    try:
        early = show.node("n2", "room-2")
        wait_for(lambda: early.bus.follows == "", 30, "the plain keys while there is no hub")
        show.hub.start()
        wait_for(lambda: early.bus.follows == "room-2", 30, "room-2's keys")
        r = redis_server.client()
        show.hub.post(TargetChanged(StyleMix.single(3, 2), seconds=0.0), "room-1")  # the default zone: also plain
        wait_for(  # on the plain stream, and not left pending: the plain reader's last read took it (without
            # applying it) or it had stopped before; either way the entry is from before the node came back
            lambda: r.xlen("laterna:events") == 1 and r.xinfo_groups("laterna:events")[0]["pending"] == 0,
            30,
            "the entry on the plain stream, nothing pending",
        )
        assert early.bus.received == 0 and early.loop.state.target != StyleMix.single(3, 2)
        shot = tmp_path / "room-1.png"
        show.hub.post(Snapshot(shot), "room-1")
        wait_for(lambda: r.xlen("laterna:events") == 2, 30, "room-1's snapshot on the plain stream")
        show.hub.stop()
        plain.start()
        wait_for(lambda: early.bus.follows == "", 30, "the plain keys again, under a hub without zones")
        plain.post(TargetChanged(StyleMix.single(3, 1), seconds=0.0, label="one look"))
        wait_for(lambda: early.loop.label == "one look" and early.bus.received >= 1, 30, "the new hub's look")
        assert early.bus.received == 1 and not shot.exists()  # its entry only: not the old snapshot
    finally:
        plain.stop()
        show.close()
