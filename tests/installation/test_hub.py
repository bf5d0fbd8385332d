"""A cluster hub with zones (``bus.zones: [room-1, room-2]``), run in this process on a real redis-server with
a render node per zone (real frame loops): a visitor page opened as ``/?zone=room-2`` steers room 2 only;
operator commands take an optional zone (none: every zone); the panel's state has each zone's label and
queue, and groups the nodes by zone."""

import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

from installation.config.schema import config_from_dict
from tests.installation.bus import conftest as bus_fixtures
from tests.installation.bus.redis_child import wait_for
from tests.installation.bus.test_zones import Node

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hub-test-operator-token-0123456789"
redis_server = bus_fixtures.redis_server  # the bus tests' fixture: a redis-server child of this test


@pytest.fixture()
def hub(tiny_model, redis_server, tmp_path, monkeypatch):
    """configs/cluster/hub.yaml with two zones, on the test's Redis and the tiny model, served on a free port."""
    from installation.hub import HubInstallation

    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", TOKEN)
    monkeypatch.delenv("LATERNA_BUS_URL", raising=False)
    data = yaml.safe_load((ROOT / "configs" / "cluster" / "hub.yaml").read_text(encoding="utf-8"))
    data["bus"].update(url=redis_server.url, zones=["room-1", "room-2"], heartbeat_s=0.2)
    data["server"].update(port=0, host="127.0.0.1")
    data["model"] = {"manifest": str(tiny_model.path)}
    data["style"] = {"start": {}, "transition_s": 0.0}
    data["director"] = {"min_show_s": 0.2}
    feedback = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feedback.bind(("127.0.0.1", 0))  # held open so the hub's OSC feedback has somewhere to go
    data["osc"] = {"enabled": True, "port": 0, "feedback_host": "127.0.0.1", "feedback_port": feedback.getsockname()[1]}
    cfg = config_from_dict(data, str(tmp_path / "hub.yaml"), base=tmp_path)
    installation = HubInstallation(cfg)
    thread = threading.Thread(target=installation.run, name="test-hub")
    thread.start()
    try:
        wait_for(lambda: installation.server is not None and installation.server.port, 30, "the hub serving")
        yield installation
    finally:
        installation.stop()
        thread.join(timeout=150)
        feedback.close()


def operator(port: int, command: dict) -> dict:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/operator/ws?token={TOKEN}", open_timeout=10) as ws:
        ws.send(json.dumps(command))
        while True:
            message = ws.recv(timeout=10)
            if isinstance(message, str) and (reply := json.loads(message)).get("type") == "result":
                return reply


def panel(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/operator/state", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def test_a_prompt_from_a_rooms_page_steers_that_room_and_zone_commands_stay_in_their_zone(
    hub, tiny_model, redis_server
):
    """A prompt sent from /?zone=room-2 is shown by room-2's node and never written to room-1; a zone
    blackout blacks out room-1 only, a show-wide command reaches both; the panel lists both zones with
    their labels, flags and nodes, /metrics counts the prompt in room-2's series, OSC feedback names each
    zone's prompt, and the panel refuses a zone the hub does not direct."""
    from websockets.sync.client import connect

    nodes = {
        zone: Node(tiny_model, redis_server.url, name, zone) for name, zone in (("n1", "room-1"), ("n2", "room-2"))
    }
    try:
        port = hub.server.port
        wait_for(lambda: all(n.bus.follows == z for z, n in nodes.items()), 30, "each node on its zone")
        wait_for(lambda: all(d.ready for d in hub.directors.values()), 120, "the prompt interpreter loaded")
        text = "a harbour at dusk in warm orange light"
        with connect(f"ws://127.0.0.1:{port}/ws?zone=room-2", open_timeout=10) as ws:
            ws.send(json.dumps({"type": "prompt", "text": text}))
            replies: list[dict] = []
            while not any(r.get("type") == "showing" for r in replies):
                replies.append(json.loads(ws.recv(timeout=60)))
        wait_for(lambda: nodes["room-2"].loop.label == text, 30, "room-2 shows the prompt")
        room_1 = redis_server.client().xrange("laterna:zone:room-1:events")
        assert all(text not in fields[b"m"].decode() for _, fields in room_1)
        assert nodes["room-1"].loop.label != text and hub.bus.keeper_of("room-1").state.label != text

        assert operator(port, {"cmd": "blackout", "on": True, "zone": "room-1"})["zone"] == "room-1"
        wait_for(lambda: nodes["room-1"].loop.blackout, 30, "room-1 blacked out")
        assert operator(port, {"cmd": "transition", "seconds": 2.5})["zones"] == ["room-1", "room-2"]
        wait_for(
            lambda: all(n.bus.applied is not None and n.bus.applied.transition_s == 2.5 for n in nodes.values()),
            30,
            "the show-wide transition on both nodes",
        )
        assert not nodes["room-2"].loop.blackout

        state = wait_for(lambda: (s := panel(port)) and len(s["nodes"]) == 2 and s, 30, "both nodes on the panel")
        zones = {z["name"]: z for z in state["zones"]}
        assert list(zones) == ["room-1", "room-2"]
        assert zones["room-1"]["blackout"] and not zones["room-2"]["blackout"]
        assert zones["room-2"]["label"] == text and zones["room-2"]["queue_length"] == 0
        assert zones["room-1"]["nodes"] == ["n1"] and zones["room-2"]["nodes"] == ["n2"]
        assert hub.director_status()["accepted"] == 1  # /metrics counts every zone's prompts
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            metrics = reply.read().decode()
        assert 'laterna_zone_prompts_total{outcome="accepted",zone="room-2"} 1.0' in metrics
        assert 'laterna_zone_prompts_total{outcome="accepted",zone="room-1"} 0.0' in metrics
        assert hub.osc_feedback is not None
        sent = dict(hub.osc_feedback.messages())
        assert sent["/laterna/zone/room-2/prompt"] == text and sent["/laterna/zone/room-1/prompt"] == ""
        refused = operator(port, {"cmd": "blackout", "on": False, "zone": "room-9"})
        assert not refused["ok"] and "room-1, room-2" in refused["error"]
        assert operator(port, {"cmd": "blackout", "on": False})["ok"]
        wait_for(lambda: not nodes["room-1"].loop.blackout, 30, "room-1 shows again")
    finally:
        for node in nodes.values():
            node.close()
