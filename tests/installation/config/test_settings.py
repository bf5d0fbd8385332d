"""The settings models: strict types, ranges on the fields, one model per component, paths per file."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.errors import ConfigError
from installation.config.schema import PROJECT_ROOT, ShowConfig, config_from_dict, load_config


def _problems(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, "show.yaml")
    return str(err.value)


@pytest.mark.parametrize(
    "data,key,expectation",
    [
        ({"source": {"width": "640"}}, "source.width", "a whole number"),
        ({"source": {"width": 640.0}}, "source.width", "a whole number"),
        ({"display": {"fullscreen": 1}}, "display.fullscreen", "true or false"),
        ({"display": {"fullscreen": "yes"}}, "display.fullscreen", "true or false"),
        ({"source": {"fps": "30"}}, "source.fps", "a number"),
        ({"name": 7}, "name", "text"),
        ({"moderation": {"block": "grey"}}, "moderation.block", "a list"),
        ({"director": "fast"}, "director", "a section (mapping)"),
    ],
)
def test_types_are_strict(data, key, expectation):
    """Text is never converted to a number, numbers never to true/false: each names the key and the type."""
    msg = _problems(data)
    assert f"show.yaml: {key}: expected {expectation}" in msg


def test_a_whole_number_is_a_fine_number():
    """`fps: 30` fills a number key, as a float."""
    cfg = config_from_dict({"source": {"fps": 30}})
    assert cfg.source.fps == 30.0 and isinstance(cfg.source.fps, float)


def test_unknown_nested_key_names_the_allowed_keys():
    """A typo two sections deep is an error listing the keys that section allows."""
    msg = _problems({"director": {"expander": {"tpye": "http"}}})
    assert "director.expander.tpye: unknown key; expected one of" in msg and "'timeout_s'" in msg


def test_ranges_are_named_with_their_bounds():
    """An out-of-range value says the range, from the constraint on its field."""
    msg = _problems({"pipeline": {"workers": 9}, "source": {"width": 8}, "style": {"start": {"ink": -1}}})
    assert "3 problem(s)" in msg
    assert "pipeline.workers: expected a number from 1 to 8, got 9" in msg
    assert "source.width: expected a number from 16 to 7680, got 8" in msg
    assert "style.start.ink: expected a number >= 0" in msg


@pytest.mark.parametrize(
    "data,key",
    [
        ({"director": {"expander": {"type": "http"}}}, "director.expander.url"),
        ({"hours": {"outside": "slide"}}, "hours.slide"),
        ({"server": {"tls_cert": "cert.pem"}}, "server.tls_key"),
        ({"hours": {"schedule": {"someday": "10:00-18:00"}}}, "hours.schedule"),
    ],
)
def test_keys_that_depend_on_others_name_the_missing_key(data, key):
    """A rule joining two keys points at the key to fix."""
    assert f"show.yaml: {key}: expected" in _problems(data)


def test_settings_built_in_code_raise_config_error():
    """Each component's model refuses a bad value made in code with a ConfigError naming the key."""
    from installation.control.settings import AttractSettings
    from installation.prompts.settings import DirectorSettings

    with pytest.raises(ConfigError, match="AttractSettings: idle_s: expected a number > 0"):
        AttractSettings(idle_s=0)
    with pytest.raises(ConfigError, match="DirectorSettings: max_queue: expected a number from 1 to 10000"):
        DirectorSettings(max_queue=0)


def test_each_component_has_one_model_composed_into_the_show():
    """The server, Director and attract mode take the very models of the config's sections (no copies)."""
    from installation.control.schedule import AttractSettings as ScheduleAttract
    from installation.prompts.director import DirectorSettings as DirectorDirector
    from installation.server.prompt_server import VisitorServerSettings

    fields = ShowConfig.model_fields
    assert fields["server"].annotation is VisitorServerSettings
    assert fields["director"].annotation is DirectorDirector
    assert fields["attract"].annotation is ScheduleAttract
    cfg = config_from_dict({"server": {"max_connections_per_address": 3}})
    assert cfg.server.limits().max_prompt_chars == 280 and cfg.server.max_connections_per_address == 3


def test_settings_are_frozen_and_compare_by_value():
    """A loaded section cannot be changed in place, and equal files give equal sections (hot reload's diff)."""
    a, b = config_from_dict({"style": {"strength": 0.5}}), config_from_dict({"style": {"strength": 0.5}})
    with pytest.raises(ValidationError, match="frozen"):
        a.style.strength = 1.0  # type: ignore[misc]
    assert a.style == b.style and a.style != ShowConfig().style


def test_paths_written_in_a_file_resolve_against_its_folder(tmp_path):
    """A relative path in a config file means: next to that file, wherever laterna was started."""
    (tmp_path / "show").mkdir()
    path = tmp_path / "show" / "kiosk.yaml"
    path.write_text(
        "model: {manifest: ../models/m.json}\nrecord: {path: frames/}\n"
        "moderation: {blocklist: /etc/laterna/words.txt}\n"
    )
    cfg = load_config(path)
    assert cfg.model.manifest == str(tmp_path / "models" / "m.json")
    assert cfg.record.path == str(tmp_path / "show" / "frames") + "/"  # "a folder of PNGs" survives
    assert cfg.moderation.blocklist == "/etc/laterna/words.txt"
    assert cfg.resolve(cfg.model.manifest) == tmp_path / "models" / "m.json"


def test_defaults_resolve_against_the_project_root(tmp_path):
    """A path left at its default (the shipped model) is found from a config anywhere."""
    path = tmp_path / "show.yaml"
    path.write_text("name: elsewhere\n")
    cfg = load_config(path)
    assert cfg.model.manifest == "models/lantern.json"
    assert cfg.resolve(cfg.model.manifest) == PROJECT_ROOT / "models" / "lantern.json"
    assert cfg.resolve(cfg.model.manifest).is_file()


def test_an_explicit_base_resolves_written_paths(tmp_path):
    """config_from_dict resolves written paths against the base it is given, and leaves them without one."""
    data = {"source": {"type": "video", "path": "clips/loop.mp4"}}
    assert config_from_dict(data, base=tmp_path).source.path == str(tmp_path / "clips" / "loop.mp4")
    cfg = config_from_dict(data)
    assert cfg.source.path == "clips/loop.mp4" and cfg.resolve(cfg.source.path) == PROJECT_ROOT / "clips/loop.mp4"


def test_shipped_configs_name_the_shipped_files():
    """configs/*.yaml find the shipped model (left at its default) and slides (written relative to configs/)."""
    for path in sorted((PROJECT_ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.resolve(cfg.model.manifest) == PROJECT_ROOT / "models" / "lantern.json", path
    slides = load_config(PROJECT_ROOT / "configs" / "slideshow.yaml").source.path
    assert Path(slides) == PROJECT_ROOT / "assets" / "slides"


def test_a_copied_default_config_still_finds_the_model(tmp_path):
    """The default config copied elsewhere (/etc/laterna/show.yaml) loads the same shipped model."""
    copy = tmp_path / "show.yaml"
    copy.write_text((PROJECT_ROOT / "configs" / "default.yaml").read_text())
    cfg = load_config(copy)
    assert cfg.resolve(cfg.model.manifest) == PROJECT_ROOT / "models" / "lantern.json"
