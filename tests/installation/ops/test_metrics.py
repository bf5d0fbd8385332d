from prometheus_client.parser import text_string_to_metric_families

from installation.ops.metrics import Metrics

STATS = {
    "frames": 120,
    "fps": 29.5,
    "frame_ms": {"p50": 33.0, "p95": 40.0, "p99": 50.0},
    "model_ms": {"p50": 20.0, "p99": 30.0},
    "latency_ms": {"p50": 60.0, "p99": 90.0},
    "dropped": 3,
    "errors": 1,
    "backend": "onnxruntime[CPUExecutionProvider]x2",
    "mix": {"ink": 0.25, "ember": 0.75},
    "strength": 0.9,
    "uptime_s": 4.0,
}
DIRECTOR = {"prompt": "a red fox", "queue_length": 2, "accepted": 5, "declined": 1}


def samples(metrics):
    """{(name, sorted labels): value} parsed from the rendered text."""
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_render_contains_the_metric_names_and_values():
    """After update(), /metrics text carries fps, counters, prompts by outcome, visitors, mix and the backend."""
    m = Metrics()
    m.update(STATS, DIRECTOR, visitors=7)
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    got = samples(m)
    assert got[("laterna_fps", ())] == 29.5
    assert got[("laterna_frames_total", ())] == 120
    assert got[("laterna_dropped_frames_total", ())] == 3
    assert got[("laterna_errors_total", ())] == 1
    assert got[("laterna_prompts_total", (("outcome", "accepted"),))] == 5
    assert got[("laterna_prompts_total", (("outcome", "declined"),))] == 1
    assert got[("laterna_prompt_queue_length", ())] == 2
    assert got[("laterna_visitors_connected", ())] == 7
    assert got[("laterna_style_weight", (("style", "ember"),))] == 0.75
    assert got[("laterna_style_strength", ())] == 0.9
    assert got[("laterna_frame_time_quantile_seconds", (("quantile", "0.99"),))] == 0.05
    assert got[("laterna_backend_info", (("backend", "onnxruntime[CPUExecutionProvider]x2"),))] == 1
    assert b"# HELP laterna_frame_time_seconds" in body


def test_counters_add_what_the_totals_gained():
    """A second update adds only the difference of the running totals; a total that goes down never decrements."""
    m = Metrics()
    m.update(STATS, DIRECTOR, visitors=1)
    m.update({**STATS, "dropped": 10, "frames": 200}, {**DIRECTOR, "declined": 4}, visitors=0)
    got = samples(m)
    assert got[("laterna_dropped_frames_total", ())] == 10
    assert got[("laterna_frames_total", ())] == 200
    assert got[("laterna_prompts_total", (("outcome", "declined"),))] == 4
    assert got[("laterna_visitors_connected", ())] == 0
    m.update({**STATS, "dropped": 2}, DIRECTOR, visitors=0)  # a new loop started counting again
    m.update({**STATS, "dropped": 5}, DIRECTOR, visitors=0)
    assert samples(m)[("laterna_dropped_frames_total", ())] == 13


def test_tick_hook_fills_the_frame_time_histogram():
    """The histogram gets the time between shown frames, each interval once however often it is read."""
    from engine.stats import LiveStats

    clock = [10.0]
    stats = LiveStats(clock=lambda: clock[0])
    m = Metrics()
    for t in (10.0, 10.04, 10.08, 10.2):
        clock[0] = t
        stats.shown(1.0, True)
        m.observe_frames(stats)
        m.observe_frames(stats)  # a tick that showed nothing adds nothing
    got = samples(m)
    assert got[("laterna_frame_time_seconds_count", ())] == 3
    assert got[("laterna_frame_time_seconds_bucket", (("le", "0.0333"),))] == 0
    assert got[("laterna_frame_time_seconds_bucket", (("le", "0.05"),))] == 2
    assert got[("laterna_frame_time_seconds_bucket", (("le", "0.1"),))] == 2
    assert got[("laterna_frame_time_seconds_bucket", (("le", "0.15"),))] == 3


def test_each_metrics_has_its_own_registry():
    """Two Metrics objects in one process do not collide (a private registry, not the global one)."""
    a, b = Metrics(), Metrics()
    a.update(STATS, DIRECTOR, visitors=3)
    assert samples(b)[("laterna_visitors_connected", ())] == 0
    assert samples(a)[("laterna_visitors_connected", ())] == 3


def test_frame_time_histogram_counts_shown_frames_not_loop_ticks(tiny_model):
    """Through a real loop whose source is slower than its ticks, the histogram holds one sample per
    interval between frames on the wall, not one per tick."""
    from engine.backends.onnxruntime import OnnxRuntimeBackend
    from engine.loop import FrameLoop
    from engine.pipeline import Stylizer
    from engine.sinks.headless import HeadlessSink
    from engine.sources.pattern import PatternSource
    from engine.style import StyleMix

    source = PatternSource(width=64, height=36, fps=8)
    source.open()
    loop = FrameLoop(
        source,
        Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36)),
        [HeadlessSink()],
        StyleMix.single(3, 0),
        (64, 36),
        display_fps=100,
    )
    m = Metrics()
    ticks = []
    loop.on_tick += [m.on_tick, ticks.append]
    stats = loop.run(max_frames=4)
    assert len(ticks) > stats["frames"] + 2  # the loop ticked more often than it showed a frame
    assert samples(m)[("laterna_frame_time_seconds_count", ())] == stats["frames"] - 1


def test_problems_show_as_a_gauge_per_part():
    """A recorder that stopped reads 1 under laterna_problem{part="recorder"}; a healthy part reads 0."""
    m = Metrics()
    m.update(STATS, DIRECTOR, problems={"recorder": "disk full; recording stopped", "camera 0": None})
    got = samples(m)
    assert got[("laterna_problem", (("part", "recorder"),))] == 1
    assert got[("laterna_problem", (("part", "camera 0"),))] == 0


def test_stream_outputs_show_per_output_gauges_and_counters():
    """Each stream output's viewers, fps, encode time, bytes/s, bytes and drops appear labelled by output."""
    m = Metrics()
    stream = {
        "viewers": 3,
        "fps": 30.0,
        "encode_ms": 2.0,
        "bytes_per_s": 1.5e6,
        "bytes_total": 9000,
        "dropped": 2,
        "viewer_dropped": 5,
    }
    m.update(STATS, DIRECTOR, streams={"main": stream, "headset": {**stream, "viewers": 1}})
    got = samples(m)
    assert got[("laterna_stream_viewers", (("output", "main"),))] == 3
    assert got[("laterna_stream_viewers", (("output", "headset"),))] == 1
    assert got[("laterna_stream_fps", (("output", "main"),))] == 30.0
    assert got[("laterna_stream_encode_seconds", (("output", "main"),))] == 0.002
    assert got[("laterna_stream_bytes_per_second", (("output", "main"),))] == 1.5e6
    assert got[("laterna_stream_bytes_total", (("output", "main"),))] == 9000
    assert got[("laterna_stream_dropped_frames_total", (("output", "main"),))] == 7
    m.update(STATS, DIRECTOR, streams={"main": {**stream, "bytes_total": 10000}})
    assert samples(m)[("laterna_stream_bytes_total", (("output", "main"),))] == 10000


def test_cluster_nodes_are_exported_one_series_each():
    """A hub's render nodes: up 1 (green), 0.5 (late), 0 (gone), with fps, frame p99 and errors per node."""
    from installation.bus.base import NodeStatus

    m = Metrics()
    m.update_nodes(
        [
            NodeStatus("node-1", "green", "room-1", 0.2, {"fps": 29.5, "frame_p99": 40.0, "errors": 2}),
            NodeStatus("node-2", "late", "room-2", 3.0, {"fps": 12.0}),
            NodeStatus("node-3", "gone", "room-3", 9.0, {}),
        ]
    )
    text = m.render()[0].decode()
    assert 'laterna_node_up{node="node-1",zone="room-1"} 1.0' in text
    assert 'laterna_node_up{node="node-2",zone="room-2"} 0.5' in text
    assert 'laterna_node_up{node="node-3",zone="room-3"} 0.0' in text
    assert 'laterna_node_fps{node="node-1",zone="room-1"} 29.5' in text
    assert 'laterna_node_frame_p99_seconds{node="node-1",zone="room-1"} 0.04' in text
    assert 'laterna_node_errors{node="node-1",zone="room-1"} 2.0' in text


def test_a_zoned_hub_exports_prompts_and_queue_per_zone():
    """With zones, each zone's prompts accepted/declined and queue length are their own series; the counters
    only go up by what a zone's total gained."""
    m = Metrics()
    m.update_zones(
        {"room-1": {"accepted": 3, "declined": 1, "queue_length": 2}, "room-2": {"accepted": 0, "queue_length": 0}}
    )
    m.update_zones({"room-1": {"accepted": 5, "declined": 1, "queue_length": 1}, "room-2": {"accepted": 1}})
    text = m.render()[0].decode()
    assert 'laterna_zone_prompts_total{outcome="accepted",zone="room-1"} 5.0' in text
    assert 'laterna_zone_prompts_total{outcome="declined",zone="room-1"} 1.0' in text
    assert 'laterna_zone_prompts_total{outcome="accepted",zone="room-2"} 1.0' in text
    assert 'laterna_zone_prompt_queue_length{zone="room-1"} 1.0' in text
    assert 'laterna_zone_prompt_queue_length{zone="room-2"} 0.0' in text
