import time

import numpy as np

from installation.config.schema import config_from_dict
from installation.show import build_show, open_show


def _config(tiny_model, display: dict, **extra):
    return config_from_dict(
        {
            "source": {"type": "pattern", "width": 96, "height": 54},
            "model": {"manifest": str(tiny_model.path), "backends": ["tensorrt", "onnxruntime"], "sessions": 1},
            "pipeline": {"width": 96, "height": 54, "workers": 1},
            "style": {"start": {"moss": 1.0}},
            "display": {"width": 96, "height": 54, **display},
            **extra,
        },
        "test.yaml",
    )


def test_show_in_a_real_window_with_stats_overlay(tiny_model):
    """A config with a window and stats overlay runs in a real pygame window whose pixels show the overlay."""
    show = build_show(_config(tiny_model, {"type": "window", "stats_overlay": True, "fit": "fill"}))
    try:
        open_show(show)
        stats = show.loop.run(max_frames=8)
        window = show.sinks[0]
        on_screen = window.last_presented()
    finally:
        show.close()
    assert stats["frames"] == 8 and stats["backend"].startswith("onnxruntime")  # tensorrt unavailable -> next
    assert on_screen.shape == (54, 96, 3)
    loop_frame = show.loop._on_screen
    # the overlay draws text over the top-left corner of what the loop handed to the window
    assert np.abs(on_screen[:12, :60].astype(int) - loop_frame[:12, :60].astype(int)).mean() > 1.0


def test_recorder_sink_from_config(tiny_model, tmp_path):
    """record.path in the config adds a recorder beside the headless sink; a path ending in "/" is a new
    folder of numbered PNGs (the slash survives resolving the path)."""
    tmp_path = tmp_path / "recordings"
    show = build_show(_config(tiny_model, {"type": "headless"}, record={"path": str(tmp_path) + "/"}))
    try:
        open_show(show)
        show.loop.run(max_frames=3)
        assert show.problems() == {"recorder": None}  # what /metrics reports: nothing degraded
    finally:
        show.close()
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_generator_source_from_config(tiny_model):
    """source.type: generator runs the shipped GAN as the frame source, restyled like a camera picture."""
    cfg = config_from_dict(
        {
            "source": {"type": "generator", "width": 96, "height": 54},
            "model": {"manifest": str(tiny_model.path), "sessions": 1},
            "pipeline": {"width": 96, "height": 54, "workers": 1},
            "style": {"start": {"moss": 1.0}},
            "display": {"type": "headless", "width": 96, "height": 54},
        },
        "test.yaml",
    )
    show = build_show(cfg)
    try:
        open_show(show)
        stats = show.loop.run(max_frames=3)
    finally:
        show.close()
    assert stats["frames"] == 3 and stats["styled_frames"] >= 2


def test_attract_mode_can_crossfade_to_the_generator(tiny_model):
    """attract.source: generator builds a switch between the live source and the shipped generator; a
    SelectSource event dissolves the picture into the generator's dream and back to the live source."""
    from engine.events import SelectSource
    from engine.sources.base import Selectable, find_first
    from engine.sources.crossfade import SwitchSource

    cfg = config_from_dict(
        {
            "source": {"type": "pattern", "width": 96, "height": 54, "crossfade_s": 0.3},
            "model": {"manifest": str(tiny_model.path), "sessions": 1},
            "pipeline": {"width": 96, "height": 54, "workers": 1},
            "style": {"start": {"moss": 1.0}},
            "attract": {"source": "generator"},
            "display": {"type": "headless", "width": 96, "height": 54},
        },
        "test.yaml",
    )
    show = build_show(cfg)
    switch = find_first(show.source, Selectable)
    assert isinstance(switch, SwitchSource) and set(switch.inputs) == {"live", "generator"}
    try:
        open_show(show)
        show.loop.run(max_frames=3)
        assert show.loop.stats.source == "pattern"
        show.loop.post(SelectSource("generator"))
        show.loop.run(duration=0.8)
        assert switch.selected == "generator" and show.loop.stats.source == "generator"
        dream = show.loop.scheduler.newest_source_frame.pixels
        show.loop.post(SelectSource("live"))
        show.loop.run(duration=0.8)
        assert switch.selected == "live" and show.loop.stats.source == "pattern"
    finally:
        show.close()
    # the generator's pictures are not the pattern's: the switch really changed what the loop was fed
    assert np.abs(dream.astype(int) - show.loop.scheduler.newest_source_frame.pixels.astype(int)).mean() > 5
    plain = build_show(_config(tiny_model, {"type": "headless"}))
    try:
        assert find_first(plain.source, Selectable) is None  # attract.source defaults to the live picture
    finally:
        plain.close()


def test_fallback_none_with_a_dead_camera_still_shows_black():
    """source.fallback none and a camera that never opens: the source chain hands out black frames, no errors."""
    import time

    from installation.show import build_source

    cfg = config_from_dict(
        {
            "source": {
                "type": "camera",
                "device": "/dev/laterna-no-such-camera",
                "fallback": "none",
                "width": 32,
                "height": 24,
            },
            "pipeline": {"width": 32, "height": 24},
        },
        "test.yaml",
    )
    with build_source(cfg) as source:
        deadline, frame = time.monotonic() + 3.0, None
        while frame is None and time.monotonic() < deadline:
            frame = source.read()  # raised SourceError on every read before 'none' meant black
            time.sleep(0.01)
    assert frame is not None and frame.size == (32, 24) and not frame.pixels.any()


def test_two_projectors_share_one_canvas_with_blends_from_the_overlap(tiny_model):
    """display as a list: two windows, the loop renders the regions' bounding box, zones come from the overlap."""
    from engine.sinks.blend import Zones
    from installation.show import build_sinks

    cfg = config_from_dict(
        {
            "source": {"type": "pattern", "width": 96, "height": 54},
            "model": {"manifest": str(tiny_model.path), "sessions": 1},
            "pipeline": {"width": 160, "height": 54, "workers": 1},
            "style": {"start": {"moss": 1.0}},
            "display": [
                {"type": "window", "width": 96, "height": 54, "region": [0, 0, 96, 54], "gain": [1, 1, 0.9]},
                {"width": 96, "height": 54, "monitor": 1, "region": [80, 0, 96, 54], "blend": {"curve": 3.0}},
            ],
        },
        "test.yaml",
    )
    assert cfg.display.canvas_size == (176, 54)
    first, second = build_sinks(cfg, headless=False)
    assert (first.separate, second.separate) == (False, True) and first.companions == [second]
    assert first.blend.zones == Zones(right=16) and first.blend.gain == (1.0, 1.0, 0.9)
    assert second.blend.zones == Zones(left=16) and second.blend.curve == 3.0 and second.display == 1
    assert first.draws_overlays and not second.draws_overlays  # one join hint on the wall, not two
    show = build_show(cfg)
    try:
        assert show.loop.output_size == (176, 54)
    finally:
        show.close()


def test_a_single_display_mapping_is_still_one_window(tiny_model):
    """The old single-mapping form: one window, no region, no blend; the loop renders the window's size."""
    from installation.show import build_sinks

    cfg = _config(tiny_model, {"type": "window"})
    (window,) = build_sinks(cfg, headless=False)
    assert window.region is None and window.blend is None and not window.separate
    assert cfg.display.canvas_size == (96, 54)


def test_guided_upscaling_from_config_delivers_the_output_size(tiny_model):
    """upscale.method guided: the source arrives at the output size, the model runs at the working size, the
    sinks receive the output size, and the stats say both."""
    from engine.upscale import GuidedUpscaler

    cfg = config_from_dict(
        {
            "source": {"type": "pattern", "width": 192, "height": 108},
            "model": {"manifest": str(tiny_model.path), "sessions": 1},
            "pipeline": {"width": 64, "height": 36, "workers": 1},
            "style": {"start": {"moss": 1.0}},
            "display": {"type": "headless", "width": 96, "height": 54},
            "upscale": {"width": 192, "height": 108, "method": "guided"},
        },
        "test.yaml",
    )
    show = build_show(cfg, headless=True)
    try:
        open_show(show)
        stats = show.loop.run(max_frames=4)
        shown = show.sinks[0].last
    finally:
        show.close()
    assert isinstance(show.stylizer.upscaler, GuidedUpscaler)
    assert stats["resolution"] == [64, 36] and stats["output_resolution"] == [192, 108]
    assert shown is not None and shown.pixels.shape == (108, 192, 3) and stats["styled_frames"] >= 1


def test_resize_upscaling_keeps_the_source_at_the_working_size(tiny_model):
    """upscale.method resize (the default): the source stays at the working size; the output size is the
    display's when upscale.width/height are 0."""
    from installation.show import build_source, build_upscaler, output_size, source_size

    cfg = _config(tiny_model, {"type": "headless", "width": 192, "height": 108})
    upscaler = build_upscaler(cfg)
    assert output_size(cfg) == (192, 108) and source_size(cfg, upscaler) == (96, 54)
    with build_source(cfg, source_size(cfg, upscaler)) as source:
        frame, deadline = None, time.monotonic() + 5.0
        while frame is None and time.monotonic() < deadline:
            frame = source.read()
    assert frame is not None and frame.size == (96, 54)


def test_the_triton_section_reaches_the_backend_and_the_environment_overrides_its_url(monkeypatch):
    """model.triton becomes the backend's target; LATERNA_TRITON_URL replaces the file's url; backend triton
    without any url is a config error naming model.triton.url."""
    import pytest

    from engine.errors import ConfigError
    from installation.show import backend_options

    monkeypatch.delenv("LATERNA_TRITON_URL", raising=False)
    model = {"backends": ["triton", "onnxruntime"], "triton": {"url": "gpu-1:8001", "model": "lantern", "version": 2}}
    cfg = config_from_dict({"model": model}, "test.yaml")
    t = backend_options(cfg).triton
    assert (t.url, t.model, t.version, t.timeout_s) == ("gpu-1:8001", "lantern", 2, 1.0)
    monkeypatch.setenv("LATERNA_TRITON_URL", "10.0.0.5:8001")
    assert backend_options(cfg).triton.url == "10.0.0.5:8001"
    monkeypatch.delenv("LATERNA_TRITON_URL")
    with pytest.raises(ConfigError, match=r"model\.triton\.url"):
        config_from_dict({"model": {"backends": ["triton", "onnxruntime"]}}, "test.yaml")


def test_a_cuda_upscaler_without_cuda_falls_back_to_the_cpu_one(tiny_model, caplog):
    """upscale.device cuda on a machine without CUDA: the show upscales on the CPU and says so once."""
    import logging

    import pytest

    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from engine.upscale import GuidedUpscaler
    from installation.show import build_upscaler

    cfg = _config(tiny_model, {"type": "headless"}, upscale={"method": "guided", "device": "cuda", "detail": 1.5})
    with caplog.at_level(logging.WARNING, logger="installation.show"):
        upscaler = build_upscaler(cfg)
    assert isinstance(upscaler, GuidedUpscaler) and upscaler.detail == 1.5
    assert sum("upscaling on the CPU" in r.message for r in caplog.records) == 1


def test_guided_upscaling_from_a_small_capture_says_it_adds_little(tiny_model, caplog):
    """Guided upscaling with the source captured below the output size still runs, and the log says to
    capture at the output size."""
    import logging

    from installation.show import build_upscaler, source_size

    cfg = _config(tiny_model, {"type": "headless"}, upscale={"width": 192, "height": 108, "method": "guided"})
    with caplog.at_level(logging.WARNING, logger="installation.show"):
        assert source_size(cfg, build_upscaler(cfg)) == (192, 108)
    assert any("adds little detail" in r.message for r in caplog.records)
