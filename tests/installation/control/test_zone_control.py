"""The panel of a hub with zones: a command with a zone acts on that zone's ShowControl only, one without a
zone on every zone; ``remove`` finds the prompt in the queue that holds it; the state lists every zone."""

import pytest

from engine.events import Blackout, SetTransition, TargetChanged
from installation.control.zone_control import ZoneControl
from tests.installation.control.test_show_control import Show


@pytest.fixture
def rooms(tmp_path):
    one, two = Show(tmp_path / "one"), Show(tmp_path / "two")
    return one, two, ZoneControl({"room-1": one.control, "room-2": two.control}, labels=lambda zone: f"{zone} look")


def test_a_zone_command_acts_on_its_zone_and_a_plain_one_on_every_zone(rooms):
    """Blackout with zone room-2 posts to room-2 only; pin and transition without a zone post to both; a zone
    the hub does not direct is refused, naming the zones it does."""
    one, two, control = rooms
    assert control.apply({"cmd": "blackout", "on": True, "zone": "room-2"}) == {
        "ok": True,
        "cmd": "blackout",
        "on": True,
        "zone": "room-2",
    }
    assert one.posted == [] and two.posted == [Blackout(True)]
    assert control.apply({"cmd": "transition", "seconds": 4})["zones"] == ["room-1", "room-2"]
    assert control.apply({"cmd": "pin", "style": "moss", "zone": None})["ok"]
    for show in (one, two):
        assert isinstance(show.posted[-1], TargetChanged) and SetTransition(4.0) in show.posted
    assert one.control.pinned == two.control.pinned == "moss"
    refused = control.apply({"cmd": "skip", "zone": "room-9"})
    assert not refused["ok"] and "room-1, room-2" in refused["error"]


def test_remove_finds_the_prompt_in_its_zones_queue_and_the_state_lists_every_zone(rooms):
    """A prompt id waiting in one zone is removed without naming the zone, one waiting in two needs it; the
    state has each zone's label, queue length and flags."""
    one, two, control = rooms
    assert two.submit("v1", "a harbour at dusk")["type"] == "queued"
    assert one.submit("v2", "green forest moss")["type"] == "queued"
    waiting = two.director.queue.pending()[0].id
    control.apply({"cmd": "blackout", "on": True, "zone": "room-1"})
    zones = {z["name"]: z for z in control.state()["zones"]}
    assert zones["room-1"]["blackout"] and not zones["room-2"]["blackout"]
    assert zones["room-2"]["label"] == "room-2 look" and zones["room-2"]["queue_length"] == 1
    assert waiting == one.director.queue.pending()[0].id  # each zone numbers its own prompts
    ambiguous = control.apply({"cmd": "remove", "id": waiting})
    assert not ambiguous["ok"] and "name the zone" in ambiguous["error"]
    assert control.apply({"cmd": "remove", "id": waiting, "zone": "room-2"})["ok"]
    assert len(two.director.queue) == 0 and len(one.director.queue) == 1
    assert two.submit("v3", "violet storm over the glacier")["type"] == "queued"
    assert control.apply({"cmd": "remove", "id": two.director.queue.pending()[0].id})["ok"]  # only room-2 has it
    assert len(two.director.queue) == 0 and len(one.director.queue) == 1
