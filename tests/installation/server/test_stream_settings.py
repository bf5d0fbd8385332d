"""The streams section: off by default and in every preset but xr-exhibit; outputs checked; sizes resolved."""

from pathlib import Path

import pytest

from engine.errors import ConfigError
from installation.config.schema import PROJECT_ROOT, config_from_dict, load_config
from installation.server.stream_settings import StreamOutputSettings, StreamsSettings


def test_streams_are_off_by_default_and_in_every_preset_but_xr_exhibit():
    """The camera sees visitors: no preset streams the picture unless it is the XR exhibit, which does."""
    assert not StreamsSettings().enabled
    for preset in sorted((PROJECT_ROOT / "configs").glob("*.yaml")):
        assert load_config(preset).streams.enabled == (preset.name == "xr-exhibit.yaml"), preset.name


def test_xr_exhibit_streams_two_outputs_and_points_the_join_hint_at_xr():
    """The XR preset serves MJPEG and the JPEG websocket, the projector's picture and a 1280x720 headset output."""
    cfg = load_config(Path(PROJECT_ROOT) / "configs" / "xr-exhibit.yaml")
    s = cfg.streams
    assert s.mjpeg and s.jpeg_ws and s.xr and s.join_page == "xr"
    specs = s.specs(cfg.display.canvas_size)
    assert [(o.name, o.width, o.height) for o in specs] == [("main", 640, 360), ("headset", 1280, 720)]


@pytest.mark.parametrize(
    "outputs,key",
    [
        ([{"name": "a", "width": 640}], "streams.outputs[0].height"),
        ([{"name": "a b"}], "streams.outputs[0].name"),
        ([{"name": "a"}, {"name": "a"}], "streams.outputs"),
        ([], "streams.outputs"),
        ([{"name": "a", "jpeg_quality": 0}], "streams.outputs[0].jpeg_quality"),
    ],
)
def test_bad_outputs_name_the_key(outputs, key):
    """A width without a height, a name with a space, two outputs of one name, none, a quality of 0: named."""
    with pytest.raises(ConfigError) as err:
        config_from_dict({"streams": {"enabled": True, "outputs": outputs}}, "show.yaml")
    assert f"show.yaml: {key}: expected" in str(err.value)
    assert str(err.value).count("expected") == 1  # one problem, said once


def test_an_output_without_a_size_takes_the_displays():
    """width/height 0 mean the display's size; a given size is kept."""
    s = StreamsSettings(
        outputs=(StreamOutputSettings(name="main"), StreamOutputSettings(name="hd", width=1280, height=720))
    )
    assert [(o.width, o.height) for o in s.specs((800, 450))] == [(800, 450), (1280, 720)]
