"""``laterna bench --tables cluster``: the show's bus, in-process against Redis, side by side in one run.

Three real frame loops (the shipped model at 64x36, so the CPU goes to the bus, not the pictures) follow
one hub. For each bus: decisions posted at 20 a second, the time until every loop has one in its
state (p50/p99; this includes waiting for the loop's next tick), the bus's own hub -> node time (Redis:
the stream entry's hub-clock stamp to its arrival), and the spread of the mix across the loops in the
middle of a glide, against one frame's worth of that glide's change at 30 fps. A ``redis-server`` child
runs in a temp dir for the Redis rows (skipped, saying why, without one).

Then, on the same Redis, a node started late: the hub has moved to a look of its own; a fresh node bus
(a new name, so a new consumer group) starts beside an already running frame loop, and the time from
its ``start()`` (before it connects) to the first frame loop tick showing the hub's look is taken, over
several starts (p50/max). The node's model load is not in it: a real node starts its bus first and
loads its model meanwhile, so its first frame already shows the hub's look. That is measured too: a real
``laterna run`` node process (headless, pattern source, 64x36) spawned against the same Redis, timed from
the spawn to its first heartbeat reporting a frame, and a frame with the hub's look (heartbeats every
50 ms, so these two are good to about 50 ms)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.events import Stop, TargetChanged
from engine.loop import FrameLoop
from engine.manifest import Manifest, load_manifest
from engine.style import StyleMix
from installation.bench.timing import table

DECISIONS = 60
RATE_HZ = 20.0
LATE_STARTS = 5
LATE_PROCESSES = 3
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def redis_child() -> Iterator[str]:
    """A throwaway redis-server on a unix socket; yields its URL."""
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    folder = Path(tempfile.mkdtemp(prefix="laterna-bench-redis-"))
    sock = folder / "r.sock"
    proc = subprocess.Popen(
        [exe, "--port", "0", "--unixsocket", str(sock), "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(unix_socket_path=str(sock)).ping():
                    break
            except (redis.RedisError, OSError):
                if time.monotonic() > end:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _loops(manifest: Manifest, n: int) -> list[FrameLoop]:
    from engine.backends.base import BackendOptions
    from engine.backends.onnxruntime import OnnxRuntimeBackend
    from engine.pipeline import Stylizer
    from engine.sinks.headless import HeadlessSink
    from engine.sources.pattern import PatternSource

    loops = []
    for _ in range(n):
        source = PatternSource(width=64, height=36, fps=30)
        source.open()
        stylizer = Stylizer([lambda: OnnxRuntimeBackend(manifest, BackendOptions(threads=1))], (64, 36))
        initial = StyleMix.single(len(manifest.styles), 0)
        loops.append(FrameLoop(source, stylizer, [HeadlessSink()], initial, (64, 36), display_fps=30.0))
    return loops


def _measure(hub: Any, loops: list[FrameLoop], n_styles: int) -> dict[str, float]:
    """Decisions through ``hub``: ms until every loop has each; the mix spread in mid-glide."""
    arrivals: list[float] = []
    for i in range(DECISIONS):
        label = f"d{i}"
        mix = StyleMix.single(n_styles, i % n_styles)
        t = time.perf_counter()
        hub.post(TargetChanged(mix, seconds=0.0, label=label))
        while not all(loop.state.label == label for loop in loops):
            if time.perf_counter() - t > 5.0:
                raise RuntimeError("a decision did not arrive within 5 s")
            time.sleep(0.0005)
        arrivals.append((time.perf_counter() - t) * 1000.0)
        time.sleep(max(0.0, 1.0 / RATE_HZ - (time.perf_counter() - t)))
    start, target = StyleMix.single(n_styles, 0), StyleMix.single(n_styles, 1)
    hub.post(TargetChanged(start, seconds=0.0, label="glide-from"))
    hub.post(TargetChanged(target, seconds=3.0, label="glide"))
    deadline = time.perf_counter() + 5.0
    while not all(loop.state.label == "glide" for loop in loops) and time.perf_counter() < deadline:
        time.sleep(0.001)
    mid = loops[0].state.glide.t0 + 1.5  # the middle of the glide, where it changes fastest (one clock here)
    mixes = [loop.state.mix_at(mid).weights for loop in loops]
    spread = max(max(w) - min(w) for w in zip(*mixes))
    arrivals.sort()
    return {
        "p50": statistics.median(arrivals),
        "p99": arrivals[min(len(arrivals) - 1, int(0.99 * len(arrivals)))],
        "spread": spread,
        "frame": 1.5 / (3.0 * 30.0),  # the steepest smoothstep change per frame of a 3 s glide, full swing
    }


def _run_loops(loops: list[FrameLoop]) -> list[threading.Thread]:
    threads = [threading.Thread(target=loop.run, daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    return threads


def _stop_loops(loops: list[FrameLoop], threads: list[threading.Thread]) -> None:
    for loop in loops:
        loop.post(Stop())
    for thread in threads:
        thread.join(timeout=10)


class FirstLook:
    """Tick hook: the time of the first tick whose state carries ``label`` (that tick's frame shows it)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.at: float | None = None

    def __call__(self, loop: FrameLoop) -> None:
        if self.at is None and loop.state.label == self.label:
            self.at = time.perf_counter()


def late_node_catch_up(url: str, hub: Any, loop: FrameLoop, n_styles: int, starts: int = LATE_STARTS) -> list[float]:
    """ms from a late node's bus start to its loop's first tick with the hub's look, once per start."""
    from installation.bus.redis_bus import RedisBus
    from installation.bus.settings import BusSettings

    look = StyleMix.single(n_styles, 2 % n_styles)
    hub.post(TargetChanged(look, seconds=0.0, label="late-look"))
    end = time.monotonic() + 5.0
    while (hub.state is None or hub.state.label != "late-look") and time.monotonic() < end:
        time.sleep(0.005)
    time.sleep(3.0 / hub.settings.state_hz)  # the state key has been written since
    out: list[float] = []
    for i in range(starts):
        loop.post(TargetChanged(StyleMix.single(n_styles, 0), seconds=0.0, label="before"))
        end = time.monotonic() + 5.0
        while loop.state.label != "before":
            if time.monotonic() > end:
                raise RuntimeError("the frame loop did not take its own look back")
            time.sleep(0.005)
        seen = FirstLook("late-look")
        loop.on_tick.append(seen)
        settings = BusSettings(url=url, role="node", node=f"late-{i}")
        node = RedisBus(settings, initial=StyleMix.single(n_styles, 0))
        node.follow(loop)
        try:
            t0 = time.perf_counter()
            node.start()
            end = time.monotonic() + 10.0
            while seen.at is None:
                if time.monotonic() > end:
                    raise RuntimeError("a late node did not catch up within 10 s")
                time.sleep(0.001)
            out.append((seen.at - t0) * 1000.0)
        finally:
            node.stop()
            loop.on_tick.remove(seen)
    return out


def late_process_catch_up(url: str, starts: int = LATE_PROCESSES) -> list[tuple[float, float]]:
    """(ms to the first frame, ms to the first frame with the hub's look) of a ``laterna run`` node process
    spawned while the hub shows "late-look"; once per start."""
    import redis
    import yaml

    folder = Path(tempfile.mkdtemp(prefix="laterna-bench-node-"))
    client = redis.Redis.from_url(url)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    env.pop("LATERNA_BUS_URL", None)
    size = {"width": 64, "height": 36}
    out: list[tuple[float, float]] = []
    try:
        for i in range(starts):
            name = f"late-process-{i}"
            config = {
                "name": name,
                "source": {"type": "pattern", "fps": 30, **size},
                "model": {"backends": ["onnxruntime"], "providers": ["cpu"], "threads": 1, "sessions": 1},
                "pipeline": {**size, "workers": 1},
                "display": {"type": "headless", "fps": 30, **size},
                "server": {"enabled": False},
                "bus": {"url": url, "role": "node", "node": name, "heartbeat_s": 0.05, "preview_kb": 0},
            }
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            args = [sys.executable, "-m", "installation.cli", "run", str(path), "--headless", "--no-server"]
            first_frame: float | None = None
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [*args, "--seconds", "60"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                end = time.monotonic() + 60.0
                while True:
                    if time.monotonic() > end or proc.poll() is not None:
                        raise RuntimeError(f"the late node process {name} did not show the hub's look")
                    raw = client.get(f"laterna:node:{name}")
                    beat = json.loads(raw) if raw else {}
                    now = time.perf_counter()
                    if (beat.get("frames") or 0) >= 1:
                        first_frame = first_frame or now
                        if beat.get("label") == "late-look":
                            out.append(((first_frame - t0) * 1000.0, (now - t0) * 1000.0))
                            break
                    time.sleep(0.01)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    finally:
        client.close()
        shutil.rmtree(folder, ignore_errors=True)
    return out


def cluster_table(
    model: str | Path = "models/lantern.json",
    nodes: int = 3,
    late_starts: int = LATE_STARTS,
    late_processes: int = LATE_PROCESSES,
) -> str:
    manifest = load_manifest(model)
    n_styles = len(manifest.styles)
    rows: list[list[str]] = []

    class FanOut:
        """One process, several loops: each decision posted to each loop's queue (the in-process bus's post)."""

        def __init__(self, loops: list[FrameLoop]) -> None:
            self.loops = loops

        def post(self, event: Any) -> bool:
            return all(loop.post(event) for loop in self.loops)

    loops = _loops(manifest, nodes)
    threads = _run_loops(loops)
    try:
        r = _measure(FanOut(loops), loops, n_styles)
        rows.append(["in-process", str(nodes), f"{r['p50']:.1f}", f"{r['p99']:.1f}", "-", "-", f"{r['spread']:.5f}"])
    finally:
        _stop_loops(loops, threads)
    note = ""
    late: list[float] = []
    spawned: list[tuple[float, float]] = []
    try:
        from installation.bus.redis_bus import RedisBus
        from installation.bus.settings import BusSettings

        with redis_child() as url:
            loops = _loops(manifest, nodes)
            threads = _run_loops(loops)
            initial = StyleMix.single(n_styles, 0)
            hub = RedisBus(BusSettings(url=url, role="hub"), initial=initial)
            followers = []
            for i, loop in enumerate(loops):
                node = RedisBus(BusSettings(url=url, role="node", node=f"bench-{i}"), initial=initial)
                node.follow(loop)
                followers.append(node)
            try:
                hub.start()
                for node in followers:
                    node.start()
                end = time.monotonic() + 10
                while not all(n.connected for n in followers) and time.monotonic() < end:
                    time.sleep(0.05)
                time.sleep(0.5)  # the groups exist and the first state has landed
                r = _measure(hub, loops, n_styles)
                bus_ms = sorted(ms for n in followers for ms in n.latencies_ms)
                rows.append(
                    [
                        "Redis (unix socket)",
                        str(nodes),
                        f"{r['p50']:.1f}",
                        f"{r['p99']:.1f}",
                        f"{statistics.median(bus_ms):.2f}",
                        f"{bus_ms[min(len(bus_ms) - 1, int(0.99 * len(bus_ms)))]:.2f}",
                        f"{r['spread']:.5f}",
                    ]
                )
                for node in followers:  # the late node gets the CPU the others had (they run elsewhere)
                    node.stop()
                _stop_loops(loops[1:], threads[1:])
                late = sorted(late_node_catch_up(url, hub, loops[0], n_styles, late_starts))
                _stop_loops(loops[:1], threads[:1])
                spawned = late_process_catch_up(url, late_processes) if late_processes else []
            finally:
                for node in followers:
                    node.stop()
                hub.stop()
                _stop_loops(loops, threads)
    except (ImportError, RuntimeError) as exc:
        note = f"\nRedis rows skipped: {exc}"
    header = [
        "bus",
        "loops",
        "decision -> every loop p50 ms",
        "p99 ms",
        "bus hub -> node p50 ms",
        "p99 ms",
        "mix spread mid-glide",
    ]
    title = (
        f"The show's bus: {DECISIONS} decisions at {RATE_HZ:.0f}/s to {nodes} frame loops (30 fps ticks); "
        f"one frame's change of a 3 s glide is {1.5 / 90:.5f}"
    )
    text = table(title, header, rows)
    if late:
        late_rows = [
            [
                "a running node's bus",
                str(len(late)),
                "bus start",
                "-",
                f"{statistics.median(late):.1f}",
                f"{late[-1]:.1f}",
            ]
        ]
        if spawned:
            firsts, looks = sorted(f for f, _ in spawned), sorted(k for _, k in spawned)
            late_rows.append(
                [
                    "node process (laterna run)",
                    str(len(spawned)),
                    "process spawn",
                    f"{statistics.median(firsts):.0f}",
                    f"{statistics.median(looks):.0f}",
                    f"{looks[-1]:.0f}",
                ]
            )
        text += "\n\n" + table(
            "A node started late while the hub shows a look of its own (same run, same Redis, unix socket)",
            ["late node", "starts", "timed from", "first frame p50 ms", "hub's look p50 ms", "max ms"],
            late_rows,
        )
    return text + note
