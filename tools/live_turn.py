"""Prompt -> picture in a live show: a real Installation (built-in source, the shipped model, headless),
its real server and a websocket visitor. For each prompt: Send -> the visitor's "showing" reply, and
Send -> the frame loop's target changing (the projector's glide starts). Prints p50/p95.

    python tools/live_turn.py [--prompts 20] [--config configs/default.yaml]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = (
    "stormy sea, huge waves",
    "swirling night sky full of stars",
    "black ink on paper",
    "glowing embers",
    "green moss forest",
    "golden sunset",
    "icy winter lake",
    "bright neon city",
    "soft watercolor flowers",
    "a cubist portrait",
)


def measure(n: int, config: str) -> dict[str, list[float]]:
    from websockets.sync.client import connect

    from installation.app import Installation
    from installation.config.schema import config_from_dict, load_config

    base = load_config(config).model_dump()
    base.update(
        source={**base["source"], "type": "pattern"},
        display={**base["display"], "type": "headless"},
        server={**base["server"], "port": 0, "host": "127.0.0.1", "join_hint": False},
        director={**base["director"], "min_show_s": 0.0},
        attract={**base["attract"], "enabled": False},
    )
    inst = Installation(config_from_dict(base, config, base=ROOT), headless=True)
    times: dict[str, list[float]] = {"showing": [], "glide starts": []}

    def target_change_after(t0: float, before: object, timeout: float = 30.0) -> float:
        while time.perf_counter() - t0 < timeout:
            if inst.show.loop.target != before:
                return time.perf_counter() - t0
            time.sleep(0.002)
        return float("nan")

    def visitor() -> None:
        try:
            deadline = time.monotonic() + 300
            while not (inst.server_thread and inst.director and inst.director.ready) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(2.0)  # let the show settle
            for i in range(n):  # a new visitor each time: one visitor's messages are rate-limited
                with connect(f"ws://127.0.0.1:{inst.port}/ws") as ws:
                    before = inst.show.loop.target
                    t0 = time.perf_counter()
                    ws.send(json.dumps({"type": "prompt", "text": f"{PROMPTS[i % len(PROMPTS)]} {i}"}))
                    glide: list[float] = []
                    watcher = threading.Thread(target=lambda: glide.append(target_change_after(t0, before)))  # noqa: B023
                    watcher.start()
                    while (reply := json.loads(ws.recv(timeout=60))).get("type") != "showing":
                        if reply.get("type") not in ("queued", "status"):
                            raise RuntimeError(f"prompt {i}: {reply}")
                    times["showing"].append(time.perf_counter() - t0)
                    watcher.join()
                    times["glide starts"] += glide
                    time.sleep(1.0)
        finally:
            inst.stop()

    t = threading.Thread(target=visitor)
    t.start()
    inst.run(seconds=900)
    t.join()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--config", default="configs/default.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    times = measure(args.prompts, args.config)
    print("| Send ->       | n  | p50 ms | p95 ms | max ms |")
    print("|---------------|----|--------|--------|--------|")
    for name, values in times.items():
        v = sorted(values)
        p95 = statistics.quantiles(v, n=20)[-1] if len(v) > 2 else v[-1]
        print(
            f"| {name:<13} | {len(v):<2} | {statistics.median(v) * 1000:6.0f} | {p95 * 1000:6.0f} | "
            f"{v[-1] * 1000:6.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
