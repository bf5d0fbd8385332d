"""A long-day soak: run the show with visitors cycling and watch what grows.

Starts ``python -m installation.cli run CONFIG --headless --port PORT`` as a child process, lets
``--visitors`` websocket visitors cycle on loopback (connect, send a prompt, wait for the answer,
stay a few seconds, leave), and every ``--interval`` seconds samples the child's RSS, open file
descriptors and threads from /proc, its fps from ``/status`` and the size of its log. Each visitor
connects from its own loopback address (127.0.0.2, 127.0.0.3, ...), so the per-address limits are
those of a real room, not of one crowded address.

Writes ``samples.csv`` and ``show.log`` under ``--out`` and prints a table: first minute against
last minute, and the RSS growth in MB/h fitted (least squares) over the samples after ``--warmup``.

    python tools/soak.py --minutes 60 --visitors 20 --out runs/soak-1h

Linux only (/proc). The numbers are for the soak table in docs/kiosk-pc.md, not for a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROMPTS = (
    "a harbour at dusk, in warm orange light",
    "a forest of glass under a green moon",
    "my grandmother's kitchen in winter",
    "neon rain on a quiet street",
    "a field of sunflowers painted by a child",
    "the sea in a storm, deep blue and silver",
    "a cathedral made of clouds",
    "an old map of an imaginary island",
    "starlight over snowy mountains",
    "a jazz club in the nineteen twenties",
)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One look at the show process."""

    t_s: float  # seconds since the show was started
    rss_mb: float
    fds: int
    threads: int
    fps: float | None
    log_bytes: int
    connections: int  # visitor connections completed so far
    replies: int  # queued/showing/rejected answers received so far


@dataclasses.dataclass
class VisitorCounts:
    """What the visitors did (owned by the asyncio thread)."""

    connections: int = 0
    replies: int = 0
    failures: int = 0


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> tuple[float, int, int]:
    """(RSS in MB, open fds, threads) of a live process, from /proc."""
    rss_kb = 0
    threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kb / 1024.0, fds, threads


def fetch_fps(port: int) -> float | None:
    """The show's fps from its /status page, or None if it did not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as reply:
            data = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    fps = data.get("fps")
    return float(fps) if isinstance(fps, (int, float)) else None


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, in value per hour; None for fewer than 2 points."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600.0


def load_samples(path: Path) -> list[Sample]:
    """The samples of an earlier soak, from its samples.csv."""
    with open(path, newline="") as f:
        return [
            Sample(
                float(r["t_s"]),
                float(r["rss_mb"]),
                int(r["fds"]),
                int(r["threads"]),
                float(r["fps"]) if r["fps"] else None,
                int(r["log_bytes"]),
                int(r["connections"]),
                int(r["replies"]),
            )
            for r in csv.DictReader(f)
        ]


def summarise(samples: Sequence[Sample], warmup_s: float) -> str:
    """The soak table: first minute, the minute after warm-up and the last minute; growth after warm-up."""
    if not samples:
        return "no samples"
    end = samples[-1].t_s
    first = [s for s in samples if s.t_s <= min(60.0, end)]
    warm = [s for s in samples if warmup_s <= s.t_s <= warmup_s + 60.0] or first
    last = [s for s in samples if s.t_s >= end - 60.0]
    after = [s for s in samples if s.t_s >= warmup_s]
    minutes = (first, warm, last)

    def mean(values: Sequence[float | None]) -> str:
        real = [v for v in values if v is not None]
        return f"{sum(real) / len(real):.1f}" if real else "-"

    rows = [
        ("RSS MB", *(mean([s.rss_mb for s in m]) for m in minutes)),
        ("open fds", *(mean([float(s.fds) for s in m]) for m in minutes)),
        ("threads", *(mean([float(s.threads) for s in m]) for m in minutes)),
        ("fps", *(mean([s.fps for s in m]) for m in minutes)),
        ("log MB", *(f"{m[-1].log_bytes / 1e6:.2f}" for m in minutes)),
        ("connections", *(str(m[-1].connections) for m in minutes)),
    ]
    out = [
        f"soak: {end / 60:.1f} min, {len(samples)} samples",
        "",
        f"| measure | first minute | minute after warm-up ({warmup_s:.0f} s) | last minute |",
        "|---|---|---|---|",
    ]
    out += [f"| {name} | {a} | {b} | {c} |" for name, a, b, c in rows]
    rss = slope_per_hour([(s.t_s, s.rss_mb) for s in after])
    fds = slope_per_hour([(s.t_s, float(s.fds)) for s in after])
    thr = slope_per_hour([(s.t_s, float(s.threads)) for s in after])
    logs = slope_per_hour([(s.t_s, s.log_bytes / 1e6) for s in after])

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:+.1f}"

    out += [
        "",
        f"after {warmup_s:.0f} s warm-up ({len(after)} samples): RSS {fmt(rss)} MB/h, fds {fmt(fds)}/h, "
        f"threads {fmt(thr)}/h, log {fmt(logs)} MB/h",
    ]
    return "\n".join(out)


def prompt_text(rng: random.Random, serial: int, unique: bool) -> str:
    """A visitor's prompt; with ``unique`` every one differs, as in a real room, so caches fill to their bounds."""
    text = rng.choice(PROMPTS)
    return f"{text}, take {serial}" if unique else text


async def visitor(
    index: int,
    port: int,
    stop: asyncio.Event,
    counts: VisitorCounts,
    rng: random.Random,
    stay_s: tuple[float, float],
    unique: bool = False,
) -> None:
    """One visitor who keeps coming back: connect, prompt, wait for the answer, stay a while, leave."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    address = f"127.0.0.{2 + index % 250}"
    url = f"ws://127.0.0.1:{port}/ws"
    while not stop.is_set():
        try:
            async with connect(url, local_addr=(address, 0), open_timeout=10, close_timeout=5) as ws:
                text = prompt_text(rng, counts.connections * 1000 + index, unique)
                await ws.send(json.dumps({"type": "prompt", "text": text}))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        reply = json.loads(await ws.recv())
                        if reply.get("type") in ("queued", "showing", "rejected"):
                            counts.replies += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), rng.uniform(*stay_s))
            counts.connections += 1
        except (OSError, TimeoutError, WebSocketException):
            counts.failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)  # the show may be busy or restarting: back off
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 2.0))


async def wait_for_server(port: int, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    """Until the show answers on its port (or it exits, or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the show exited with {proc.returncode} before it served; see its log")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.5)
    raise SystemExit(f"the show did not open port {port} within {deadline_s:.0f} s")


async def soak(args: argparse.Namespace) -> list[Sample]:
    """Run the show and the visitors for the given time; return the samples."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = out / "show.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "installation.cli", "run", args.config, "--headless", "--port", str(port)]
    if args.verbose:
        cmd.insert(3, "-v")
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    t0 = time.monotonic()
    samples: list[Sample] = []
    counts = VisitorCounts()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await wait_for_server(port, proc, 180.0)
        rng = random.Random(args.seed)
        tasks = [
            asyncio.create_task(
                visitor(i, port, stop, counts, random.Random(rng.random()), (args.stay_min, args.stay_max), args.unique)
            )
            for i in range(args.visitors)
        ]
        end = t0 + args.minutes * 60.0
        with open(out / "samples.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([field.name for field in dataclasses.fields(Sample)])
            while time.monotonic() < end and proc.poll() is None:
                rss, fds, threads = proc_status(proc.pid)
                fps = await asyncio.to_thread(fetch_fps, port)
                sample = Sample(
                    round(time.monotonic() - t0, 1),
                    round(rss, 1),
                    fds,
                    threads,
                    fps,
                    log_path.stat().st_size,
                    counts.connections,
                    counts.replies,
                )
                samples.append(sample)
                writer.writerow(dataclasses.astuple(sample))
                f.flush()
                await asyncio.sleep(args.interval)
    finally:
        stop.set()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if proc.returncode not in (0, None, -signal.SIGTERM):
        print(f"the show exited with {proc.returncode}; see {log_path}", file=sys.stderr)
    print(f"visitors: {counts.connections} connections, {counts.replies} answers, {counts.failures} failures")
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--visitors", type=int, default=20)
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=300.0, help="seconds left out of the growth fit")
    p.add_argument("--stay-min", type=float, default=2.0, help="shortest stay of a visitor, seconds")
    p.add_argument("--stay-max", type=float, default=8.0, help="longest stay of a visitor, seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unique", action="store_true", help="every prompt different (caches fill up as in a real room)")
    p.add_argument("--verbose", action="store_true", help="run the show with -v (DEBUG logs)")
    p.add_argument("--out", default="runs/soak")
    p.add_argument("--summary", metavar="CSV", help="only print the table of an earlier soak's samples.csv")
    args = p.parse_args(argv)
    if args.summary:
        print(summarise(load_samples(Path(args.summary)), args.warmup))
        return 0
    samples = asyncio.run(soak(args))
    table = summarise(samples, args.warmup)
    Path(args.out, "summary.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
