"""One hub and three headless render nodes as separate ``laterna run`` processes on a real redis-server:
a visitor's prompt reaches every node, in step; an operator blackout reaches every node; Redis killed and
restarted 5 s later loses nothing accepted while the nodes keep rendering; a killed node is shown gone
within 5 s, and back, caught up at once. The tests of this module run in order on one cluster, with the
hub's zones taken out of its config: one look for the whole show, as before zones existed."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from engine.style import StyleMix
from engine.transition import Glide
from installation.bus.codec import mix_from_dict
from tests.installation.bus.redis_child import REDIS, WHY_NOT, RedisChild, redis_client_missing, wait_for

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "configs" / "cluster"
TOKEN = "cluster-test-operator-token-0123456789"
NODES = ("node-1", "node-2", "node-3")
SIZE = {"width": 192, "height": 108}  # small pictures: three nodes and a hub share this machine's two cores


def variant(name: str, folder: Path, url: str) -> Path:
    """configs/cluster/<name>.yaml pointing at the test's Redis, small, every port chosen by the system."""
    data = yaml.safe_load((CLUSTER / f"{name}.yaml").read_text(encoding="utf-8"))
    data["bus"]["url"] = url
    data.setdefault("server", {})["port"] = 0
    data["server"]["host"] = "127.0.0.1"
    for section in ("source", "pipeline", "display"):
        if section in data:
            data[section].update(SIZE)
    if name == "hub":
        data["director"] = {"min_show_s": 1.0}
        data["bus"].pop("zones", None)  # one look on every node: the single-zone show (zones: test_zones, test_hub)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.redis = RedisChild(folder)
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SDL_VIDEODRIVER": "dummy",
            "SDL_AUDIODRIVER": "dummy",
            "LATERNA_OPERATOR_TOKEN": TOKEN,
        }
        self.env.pop("LATERNA_BUS_URL", None)

    def start(self, name: str) -> None:
        config = variant(name, self.folder, self.redis.url)
        args = [sys.executable, "-m", "installation.cli", "run", str(config), "--seconds", "600"]
        if name != "hub":
            args += ["--headless", "--no-server", "--stats-out", str(self.folder / f"{name}.json")]
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def port(self) -> int:
        found = wait_for(lambda: re.search(r"hub: visitors at \S+:(\d+)/", self.log("hub")), 60, "the hub's port")
        return int(found.group(1))

    def beat(self, name: str) -> dict | None:
        raw = self.redis.client().get(f"laterna:node:{name}")
        return json.loads(raw) if raw else None

    def beats(self) -> dict[str, dict]:
        return {n: b for n in NODES if (b := self.beat(n)) is not None}

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port()}/metrics", timeout=5) as reply:
            return reply.read().decode()

    def operator(self, command: dict) -> dict:
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{self.port()}/operator/ws?token={TOKEN}", open_timeout=10) as ws:
            ws.send(json.dumps(command))
            while True:
                message = ws.recv(timeout=10)
                if isinstance(message, bytes):  # the panel's preview pictures
                    continue
                reply = json.loads(message)
                if reply.get("type") == "result":
                    return reply

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        self.redis.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Redis, the hub and three nodes, started once for this module; every node green before the tests."""
    if REDIS is None:
        pytest.skip(WHY_NOT)
    if missing := redis_client_missing():
        pytest.skip(missing)
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="laterna-cluster-"))  # short: a unix socket path has a length limit
    c = Cluster(folder)
    c.redis.start()
    try:
        c.start("hub")
        for name in NODES:
            c.start(name)
        wait_for(
            lambda: len([b for b in c.beats().values() if b["frames"] and b["frames"] > 0]) == 3,
            180,
            "three nodes rendering",
            every_s=0.2,
        )
        yield c
    finally:
        c.stop()
        print("\n".join(f"--- {n}\n{c.log(n)[-2000:]}" for n in ("hub", *NODES)))


def mix_on(beat: dict, hub_t: float) -> StyleMix:
    g = beat["glide"]
    return Glide(mix_from_dict(g["start"]), mix_from_dict(g["target"]), g["t0"], g["duration"], g["ease"]).at(hub_t)


def test_every_node_is_green_on_the_hub(cluster):
    """The hub's /metrics shows the three nodes up, each with its zone."""
    text = wait_for(lambda: (m := cluster.metrics()).count("laterna_node_up{") == 3 and m, 20, "three node gauges")
    for i, name in enumerate(NODES, start=1):
        assert f'laterna_node_up{{node="{name}",zone="room-{i}"}} 1.0' in text


def test_the_operator_panel_lists_every_node_with_its_preview(cluster):
    """The hub's panel state has a green row per node (zone, fps, backend, model hash), and each node's
    preview is a small JPEG under bus.preview_kb."""
    import urllib.request

    def get(path: str) -> tuple[str, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{cluster.port()}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.headers["Content-Type"], reply.read()

    def rows_when_rendering():
        rows = json.loads(get("/operator/state")[1])["nodes"]
        return len(rows) == 3 and all((r["fps"] or 0) > 0 for r in rows) and rows

    rows = wait_for(rows_when_rendering, 30, "three rows, every node rendering")
    assert [(r["name"], r["zone"], r["health"]) for r in rows] == [
        (n, f"room-{i}", "green") for i, n in enumerate(NODES, 1)
    ]
    assert all(r["fps"] > 0 and r["backend"].startswith("onnxruntime") and len(r["model"]) == 64 for r in rows)
    kind, jpeg = wait_for(lambda: _try(lambda: get("/operator/preview.jpg?node=node-2")), 30, "node-2's preview")
    assert kind == "image/jpeg" and jpeg[:2] == b"\xff\xd8" and len(jpeg) <= 24 * 1024


def _try(fn):
    """fn(), or None when it raised (an HTTP 404 before the first preview arrived)."""
    try:
        return fn()
    except Exception:
        return None


def test_a_visitor_prompt_reaches_every_node_in_step(cluster):
    """A prompt typed on the visitor websocket is shown by all three nodes, gliding through the same mix at
    the same hub time: their spread is below one frame's worth of the glide's change."""
    from websockets.sync.client import connect

    text = "a harbour at dusk in warm orange light"
    with connect(f"ws://127.0.0.1:{cluster.port()}/ws", open_timeout=10) as ws:
        wait_for(lambda: cluster.operator({"cmd": "skip"})["ok"], 30, "the hub answers")
        ws.send(json.dumps({"type": "prompt", "text": text}))
        replies = []
        while not any(r.get("type") == "showing" for r in replies):
            replies.append(json.loads(ws.recv(timeout=60)))
    beats = wait_for(
        lambda: (b := cluster.beats()) and all(x["label"] == text for x in b.values()) and len(b) == 3 and b,
        30,
        "the prompt on every node",
    )
    glides = [b["glide"] for b in beats.values()]
    t_mid = glides[0]["t0"] + glides[0]["duration"] / 2
    mixes = [mix_on(b, t_mid).weights for b in beats.values()]
    spread = max(max(ws) - min(ws) for ws in zip(*mixes))
    start, target = mix_from_dict(glides[0]["start"]).weights, mix_from_dict(glides[0]["target"]).weights
    per_frame = max(abs(a - b) for a, b in zip(start, target)) * 1.5 / (glides[0]["duration"] * 30)  # smoothstep
    assert spread < per_frame, (spread, per_frame, [g["t0"] for g in glides])


def test_an_operator_blackout_reaches_every_node(cluster):
    """Blackout on from the hub's operator websocket: every node blacks out; off: every node shows again."""
    assert cluster.operator({"cmd": "blackout", "on": True})["ok"]
    wait_for(lambda: all(b["blackout"] for b in cluster.beats().values()), 30, "every node blacked out")
    assert cluster.operator({"cmd": "blackout", "on": False})["ok"]
    wait_for(lambda: not any(b["blackout"] for b in cluster.beats().values()), 30, "every node shows again")


def test_redis_killed_and_restarted_loses_nothing_and_nodes_keep_rendering(cluster):
    """kill -9 of Redis mid-show, a blackout accepted by the hub meanwhile, Redis back 5 s later: the nodes
    rendered all along, the blackout reaches all three, and every node's group has read and acked everything."""
    earlier = cluster.beats()
    before = wait_for(  # two heartbeats 2 s apart: each node's own frame rate before the outage
        lambda: (b := cluster.beats()) and all(b[n]["t"] >= earlier[n]["t"] + 2.0 for n in NODES) and b,
        30,
        "two heartbeats 2 s apart",
    )
    rate = {n: (before[n]["frames"] - earlier[n]["frames"]) / (before[n]["t"] - earlier[n]["t"]) for n in NODES}
    cluster.redis.kill()
    t_kill = time.monotonic()
    assert cluster.operator({"cmd": "blackout", "on": True})["ok"]  # accepted by the hub while Redis is down
    time.sleep(max(0.0, 5.0 - (time.monotonic() - t_kill)))  # the scenario: Redis comes back after 5 s
    cluster.redis.start()
    after = wait_for(
        lambda: (b := cluster.beats()) and len(b) == 3 and all(x["blackout"] for x in b.values()) and b,
        30,
        "the blackout accepted during the outage on every node",
    )
    outage_s = time.monotonic() - t_kill
    for name in NODES:  # the loop never waited for Redis: at least half its own rate all through the outage
        shown = after[name]["frames"] - before[name]["frames"]
        assert shown >= 0.5 * rate[name] * outage_s, (name, shown, rate[name], outage_s)
    r = cluster.redis.client()
    last = r.xinfo_stream("laterna:events")["last-generated-id"]
    groups = wait_for(
        lambda: (
            (g := r.xinfo_groups("laterna:events"))
            and all(x["pending"] == 0 and x["last-delivered-id"] == last for x in g)
            and g
        ),
        30,
        "every group read and acknowledged the whole stream",
    )
    assert {g["name"].decode() for g in groups} == set(NODES)
    assert cluster.operator({"cmd": "blackout", "on": False})["ok"]


def test_a_killed_node_is_gone_within_5_s_and_back_caught_up(cluster):
    """kill -9 of node-3: the hub's /metrics shows it gone within 5 s; restarted, it is up again and its
    heartbeats show the look the hub decided while it was away (it caught up)."""
    label = "pinned: udnie"
    assert cluster.operator({"cmd": "pin", "style": "udnie"})["ok"]
    wait_for(lambda: all(b["label"] == label for b in cluster.beats().values()), 30, "every node pinned")
    proc = cluster.procs["node-3"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    gone = 'laterna_node_up{node="node-3",zone="room-3"} 0.0'
    wait_for(lambda: gone in cluster.metrics(), 5.0, "node-3 shown gone", every_s=0.2)
    assert cluster.operator({"cmd": "pin", "style": "the_scream"})["ok"]  # decided while node-3 was away
    cluster.start("node-3")
    first = wait_for(
        lambda: (b := cluster.beat("node-3")) and b["pid"] == cluster.procs["node-3"].pid and b["frames"] and b,
        120,
        "node-3 rendering again",
    )
    # The catch-up time itself is a speed figure (laterna bench --tables cluster); here: it does catch up.
    wait_for(lambda: cluster.beat("node-3")["label"] == "pinned: the_scream", 30, f"node-3 caught up ({first})")
    wait_for(lambda: 'laterna_node_up{node="node-3",zone="room-3"} 1.0' in cluster.metrics(), 30, "node-3 green")
    assert cluster.operator({"cmd": "pin", "style": None})["ok"]
