"""Prometheus metrics of a running show, for a ``/metrics`` HTTP route.

Everything lives on a private ``CollectorRegistry`` (never the process-global one), so two shows or
two tests in one process do not collide. ``update()`` copies a stats snapshot, the Director's status
and the visitor count into gauges and counters; call it when ``/metrics`` is scraped (or on a
timer). The frame-time histogram needs every shown frame, so it is fed by ``on_tick``, a cheap tick
hook (``loop.on_tick.append(metrics.on_tick)``) that observes the intervals between the frames the
loop showed since the last call (``LiveStats.frame_intervals_since``), not between ticks.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

log = logging.getLogger(__name__)

# frame intervals from 240 fps to a one-second hiccup (30 fps = 0.033 s)
FRAME_BUCKETS = (0.005, 0.010, 0.0167, 0.025, 0.0333, 0.050, 0.075, 0.100, 0.150, 0.250, 0.500, 1.0, 2.5)


class Metrics:
    """The show's Prometheus metrics on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "laterna") -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r, ns = self.registry, namespace
        self.fps = Gauge("fps", "Frames shown per second over the recent window", namespace=ns, registry=r)
        self.frame_time = Histogram(
            "frame_time_seconds",
            "Time between frames shown (one loop tick)",
            namespace=ns,
            buckets=FRAME_BUCKETS,
            registry=r,
        )
        self.frame_time_quantile = Gauge(
            "frame_time_quantile_seconds", "Recent frame time percentiles", ["quantile"], namespace=ns, registry=r
        )
        self.model_time_quantile = Gauge(
            "model_time_quantile_seconds",
            "Recent model inference time percentiles",
            ["quantile"],
            namespace=ns,
            registry=r,
        )
        self.latency_quantile = Gauge(
            "latency_quantile_seconds",
            "Recent capture-to-screen latency percentiles",
            ["quantile"],
            namespace=ns,
            registry=r,
        )
        self.frames = Counter("frames", "Frames shown", namespace=ns, registry=r)
        self.dropped = Counter("dropped_frames", "Frames dropped (a newer one replaced them)", namespace=ns, registry=r)
        self.errors = Counter("errors", "Source, sink and backend errors", namespace=ns, registry=r)
        self.prompts = Counter(
            "prompts", "Visitor prompts by moderation outcome", ["outcome"], namespace=ns, registry=r
        )
        self.queue_length = Gauge("prompt_queue_length", "Prompts waiting for their turn", namespace=ns, registry=r)
        self.visitors = Gauge("visitors_connected", "Visitors connected to the prompt page", namespace=ns, registry=r)
        self.strength = Gauge(
            "style_strength", "Style strength on screen (0 = camera picture, 1 = stylised)", namespace=ns, registry=r
        )
        self.style_weight = Gauge(
            "style_weight", "Weight of each style in the mix on screen", ["style"], namespace=ns, registry=r
        )
        self.uptime = Gauge("uptime_seconds", "Seconds since the frame loop started", namespace=ns, registry=r)
        self.backend = Info("backend", "Inference backend in use", namespace=ns, registry=r)
        self.problem = Gauge(
            "problem",
            "1 while a part of the show is degraded (recorder stopped, source on its fallback), else 0",
            ["part"],
            namespace=ns,
            registry=r,
        )
        out = ["output"]
        self.stream_viewers = Gauge(
            "stream_viewers", "Stream viewers watching, per output", out, namespace=ns, registry=r
        )
        self.stream_fps = Gauge("stream_fps", "Frames a second an output publishes", out, namespace=ns, registry=r)
        self.stream_encode = Gauge(
            "stream_encode_seconds",
            "Recent mean time of one shared JPEG encode, per output",
            out,
            namespace=ns,
            registry=r,
        )
        self.stream_bytes_rate = Gauge(
            "stream_bytes_per_second",
            "Bytes a second sent to an output's viewers (recent)",
            out,
            namespace=ns,
            registry=r,
        )
        self.stream_bytes = Counter("stream_bytes", "Bytes sent to an output's viewers", out, namespace=ns, registry=r)
        self.stream_dropped = Counter(
            "stream_dropped_frames",
            "Frames an output dropped: replaced before its worker took them, or missed by a slow viewer",
            out,
            namespace=ns,
            registry=r,
        )
        for outcome in ("accepted", "declined"):
            self.prompts.labels(outcome=outcome)
        self._totals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._frames_seen = 0  # frames of the loop's stats already observed into frame_time
        self._backend_name: str | None = None

    # -- updates -----------------------------------------------------------------------------------
    def _advance(self, key: str, counter: Any, total: Any) -> None:
        """Counters only go up: add what a running total gained since the last update."""
        try:
            total = float(total)
        except (TypeError, ValueError):
            return
        last = self._totals.get(key, 0.0)
        if total > last:
            counter.inc(total - last)
        self._totals[key] = total  # a total that went down (a new loop) counts on from its new value

    @staticmethod
    def _quantiles(gauge: Gauge, values_ms: Any) -> None:
        if isinstance(values_ms, dict):
            for name, ms in values_ms.items():
                quantile = {"p50": "0.5", "p95": "0.95", "p99": "0.99"}.get(name)
                if quantile is not None:
                    gauge.labels(quantile=quantile).set(float(ms) / 1000.0)

    def update_nodes(self, nodes: list[Any]) -> None:
        """A cluster hub's render nodes (``installation.bus.base.NodeStatus``): up (1 green, 0.5 late, 0 gone),
        fps, frame p99 and errors, one series per node."""
        with self._lock:
            if not hasattr(self, "node_up"):
                r, ns = self.registry, "laterna"
                labels = ["node", "zone"]
                self.node_up = Gauge(
                    "node_up", "Render node: 1 green, 0.5 late, 0 gone", labels, namespace=ns, registry=r
                )
                self.node_fps = Gauge("node_fps", "Render node frames per second", labels, namespace=ns, registry=r)
                self.node_p99 = Gauge(
                    "node_frame_p99_seconds",
                    "Render node frame time, 99th percentile",
                    labels,
                    namespace=ns,
                    registry=r,
                )
                self.node_errors = Gauge(
                    "node_errors", "Render node errors since it started", labels, namespace=ns, registry=r
                )
            for node in nodes:
                key = (node.name, node.zone)
                self.node_up.labels(*key).set({"green": 1.0, "late": 0.5}.get(node.health, 0.0))
                report = node.report or {}
                self.node_fps.labels(*key).set(float(report.get("fps") or 0.0))
                self.node_p99.labels(*key).set(float(report.get("frame_p99") or 0.0) / 1000.0)
                self.node_errors.labels(*key).set(float(report.get("errors") or 0.0))

    def update_zones(self, statuses: dict[str, dict]) -> None:
        """A zoned hub's Directors (``Director.status()`` per zone): prompts accepted and declined, and the queue
        length, one series per zone (the unlabelled series are the show's sums)."""
        with self._lock:
            if not hasattr(self, "zone_prompts"):
                r, ns = self.registry, "laterna"
                self.zone_prompts = Counter(
                    "zone_prompts",
                    "Visitor prompts by zone and moderation outcome",
                    ["zone", "outcome"],
                    namespace=ns,
                    registry=r,
                )
                self.zone_queue = Gauge(
                    "zone_prompt_queue_length",
                    "Prompts waiting for their turn, per zone",
                    ["zone"],
                    namespace=ns,
                    registry=r,
                )
            for zone, status in statuses.items():
                for outcome in ("accepted", "declined"):
                    counter = self.zone_prompts.labels(zone=zone, outcome=outcome)
                    self._advance(f"zone/{zone}/{outcome}", counter, status.get(outcome, 0))
                self.zone_queue.labels(zone=zone).set(float(status.get("queue_length", 0)))

    def update(
        self,
        stats: dict,
        director_status: dict | None = None,
        visitors: int = 0,
        problems: dict[str, str | None] | None = None,
        streams: dict[str, dict] | None = None,
    ) -> None:
        """Copy ``LiveStats.snapshot()``, ``Director.status()``, the visitor count, ``Show.problems()`` and the
        stream outputs' ``FanoutSink.stats()`` in."""
        director_status = director_status or {}
        with self._lock:
            self.fps.set(float(stats.get("fps", 0.0)))
            self._quantiles(self.frame_time_quantile, stats.get("frame_ms"))
            self._quantiles(self.model_time_quantile, stats.get("model_ms"))
            self._quantiles(self.latency_quantile, stats.get("latency_ms"))
            self._advance("frames", self.frames, stats.get("frames", 0))
            self._advance("dropped", self.dropped, stats.get("dropped", 0))
            self._advance("errors", self.errors, stats.get("errors", 0))
            self._advance("accepted", self.prompts.labels(outcome="accepted"), director_status.get("accepted", 0))
            self._advance("declined", self.prompts.labels(outcome="declined"), director_status.get("declined", 0))
            self.queue_length.set(float(director_status.get("queue_length", 0)))
            self.visitors.set(float(visitors))
            self.strength.set(float(stats.get("strength", 0.0)))
            for style, weight in stats.get("mix", {}).items():
                self.style_weight.labels(style=style).set(float(weight))
            self.uptime.set(float(stats.get("uptime_s", 0.0)))
            for part, problem in (problems or {}).items():
                self.problem.labels(part=part).set(1.0 if problem else 0.0)
            for name, st in (streams or {}).items():
                self.stream_viewers.labels(output=name).set(float(st.get("viewers", 0)))
                self.stream_fps.labels(output=name).set(float(st.get("fps", 0.0)))
                self.stream_encode.labels(output=name).set(float(st.get("encode_ms", 0.0)) / 1000.0)
                self.stream_bytes_rate.labels(output=name).set(float(st.get("bytes_per_s", 0.0)))
                self._advance(f"stream_bytes/{name}", self.stream_bytes.labels(output=name), st.get("bytes_total", 0))
                dropped = st.get("dropped", 0) + st.get("viewer_dropped", 0)
                self._advance(f"stream_dropped/{name}", self.stream_dropped.labels(output=name), dropped)
            backend = str(stats.get("backend", ""))
            if backend != self._backend_name:
                self.backend.info({"backend": backend or "none"})
                self._backend_name = backend

    def on_tick(self, loop: Any) -> None:
        """Frame-loop tick hook: observe the frames shown since the last call into the histogram."""
        self.observe_frames(loop.stats)

    def observe_frames(self, stats: Any) -> None:
        """Observe the intervals between the frames ``stats`` (a ``LiveStats``) counted since the last call."""
        self._frames_seen, intervals = stats.frame_intervals_since(self._frames_seen)
        for seconds in intervals:
            self.frame_time.observe(seconds)

    # -- output ------------------------------------------------------------------------------------
    def render(self) -> tuple[bytes, str]:
        """The body and Content-Type for a ``/metrics`` response."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
