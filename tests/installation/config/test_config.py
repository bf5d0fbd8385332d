from pathlib import Path

import pytest

from engine.errors import ConfigError
from installation.config.schema import DEFAULT_CONFIG, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    """Every config in configs/ loads into a typed ShowConfig."""
    cfg = load_config(path)
    assert cfg.source_file == str(path)


def test_default_config_runs_anywhere():
    """The default config asks for an auto source and display, the CPU, and 640x360."""
    cfg = load_config(DEFAULT_CONFIG)
    assert (cfg.source.type, cfg.display.type) == ("auto", "auto")
    assert cfg.model.providers == ("cpu",)
    assert (cfg.pipeline.width, cfg.pipeline.height) == (640, 360)


@pytest.mark.parametrize(
    "text,key",
    [
        ("source: {type: webcam}", "source.type"),
        ("source: {width: wide}", "source.width"),
        ("display: {fps: -5}", "display.fps"),
        ("style: {strength: 2}", "style.strength"),
        ("pipeline: {smoothing: 1.5}", "pipeline.smoothing"),
        ("model: {backends: [onnxruntime, openvino]}", "model.backends[1]"),
        ("display: {keystone: [[0, 0], [1, 0]]}", "display.keystone"),
        ("source: {type: video}", "source.path"),
        ("sauce: {}", "sauce"),
        ("server: {port: 70000}", "server.port"),
        ("display: {fullscreen: maybe}", "display.fullscreen"),
        ("source: {crossfade_s: -1}", "source.crossfade_s"),
        ("attract: {source: webcam}", "attract.source"),
    ],
)
def test_broken_config_names_file_key_and_expectation(tmp_path, text, key):
    """A wrong value names the file, the key and what was expected."""
    path = tmp_path / "kiosk.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "kiosk.yaml" in msg and f"{key}:" in msg and "expected" in msg


def test_all_problems_are_reported_at_once(tmp_path):
    """Several mistakes in one file are all listed in one error."""
    path = tmp_path / "kiosk.yaml"
    path.write_text("source: {type: webcam, fps: 0}\ndisplay: {fit: stretch}\n")
    with pytest.raises(ConfigError, match="3 problem") as err:
        load_config(path)
    for key in ("source.type", "source.fps", "display.fit"):
        assert key in str(err.value)


def test_unreadable_yaml_and_missing_file(tmp_path):
    """Invalid YAML gives the line; a missing file says so."""
    path = tmp_path / "bad.yaml"
    path.write_text("source:\n  type: [camera\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML at line"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["default", "gallery-projector", "kiosk-touchscreen", "slideshow"])
def test_presets_describe_their_setup(name):
    """Each preset exists and says what it is for: camera/projector/GPU, kiosk browser, slideshow folder."""
    cfg = load_config(DEFAULT_CONFIG.parent / f"{name}.yaml")
    if name == "gallery-projector":
        assert cfg.source.type == "camera" and cfg.display.fullscreen and cfg.display.monitor == 1
        assert cfg.model.backends[0] == "tensorrt" and cfg.model.providers[-1] == "cpu"
    elif name == "kiosk-touchscreen":
        assert cfg.kiosk.browser and cfg.display.monitor == 1 and not cfg.server.join_hint
    elif name == "slideshow":
        assert cfg.source.type == "slideshow" and any(cfg.resolve(cfg.source.path).glob("*.jpg"))


def test_slideshow_and_gallery_presets_build_a_show_here():
    """The slideshow preset runs here; the GPU preset falls back to the CPU on this machine."""
    from installation.show import build_show, open_show

    for name in ("slideshow", "gallery-projector"):
        show = build_show(load_config(DEFAULT_CONFIG.parent / f"{name}.yaml"), headless=True)
        try:
            open_show(show)
            stats = show.loop.run(max_frames=2)
        finally:
            show.close()
        assert stats["frames"] == 2 and stats["backend"].startswith("onnxruntime")
