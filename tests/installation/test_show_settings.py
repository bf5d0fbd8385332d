import pytest

from engine.errors import ConfigError
from installation.config.schema import config_from_dict


def problems(display) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"display": display}, "show.yaml")
    return str(info.value)


def test_a_list_of_outputs_and_the_outputs_key_are_the_same_display():
    """display: [a, b] reads as display: {**a, outputs: [b]}; show-wide keys may sit on any item."""
    a = {"width": 320, "height": 180, "region": [0, 0, 320, 180]}
    b = {"width": 320, "height": 180, "region": [300, 0, 320, 180], "fps": 24.0}
    listed = config_from_dict({"display": [a, b]}).display
    keyed = config_from_dict({"display": {**a, "fps": 24.0, "outputs": [{k: v for k, v in b.items() if k != "fps"}]}})
    assert listed == keyed.display and listed.fps == 24.0 and listed.canvas_size == (620, 180)


def test_problems_name_the_list_item_as_written():
    """With display as a list, a problem names display[i].key, the item the technician wrote."""
    text = problems([{"fullscreen": 3}, {"region": [0, 0, 8, 8]}, {"gain": [1, 1, 3]}])
    assert "display[0].fullscreen" in text and "display[1].region" in text and "display[2].gain" in text


def test_show_wide_keys_that_disagree_are_refused():
    """Two items giving different fps is a mistake, not a silent pick."""
    assert "display" in problems([{"fps": 30.0}, {"fps": 60.0}])


def test_regions_must_lie_inside_the_canvas_and_zones_inside_the_region():
    """A region beyond the written canvas, or blend zones wider than the region, are named."""
    assert "outputs[0].region" in problems(
        {"canvas": [400, 180], "outputs": [{"region": [300, 0, 320, 180]}], "region": [0, 0, 320, 180]}
    )
    assert "display.blend" in problems({"region": [0, 0, 100, 50], "blend": {"left": 80, "right": 30}})


def test_a_mesh_must_be_a_grid():
    """Ragged rows or a single row are refused with the row lengths."""
    assert "display.mesh" in problems({"mesh": [[[0, 0], [1, 0]], [[0, 1]]]})
    assert "display.mesh" in problems({"mesh": [[[0, 0], [1, 0]]]})
