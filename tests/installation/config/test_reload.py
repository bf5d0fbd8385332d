from pathlib import Path

from installation.config.reload import ConfigReloader
from installation.config.schema import load_config

BASE = """
style: {strength: 1.0, transition_s: 3.0}
director: {min_show_s: 20}
moderation: {block: [grey]}
source: {type: pattern}
"""


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _setup(tmp_path: Path):
    path = tmp_path / "show.yaml"
    path.write_text(BASE)
    applied = []
    clock = Clock()
    reloader = ConfigReloader(path, load_config(path), lambda old, new: applied.append(new), every_s=1.0, clock=clock)
    return path, reloader, applied, clock


def _touch(path: Path, text: str, clock: Clock):
    path.write_text(text)
    import os

    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    clock.t += 2


def test_safe_changes_apply_without_restart(tmp_path):
    """Changing pacing and moderation words reloads them into the running show."""
    path, reloader, applied, clock = _setup(tmp_path)
    _touch(path, BASE.replace("min_show_s: 20", "min_show_s: 5").replace("[grey]", "[grey, beige]"), clock)
    result = reloader.check()
    assert result.ok and set(result.applied) == {"director.min_show_s", "moderation.block"}
    assert applied[-1].director.min_show_s == 5 and reloader.current.moderation.block == ("grey", "beige")


def test_unsafe_changes_are_reported_not_applied(tmp_path):
    """A changed source needs a restart: it is named and not applied; safe changes still apply."""
    path, reloader, applied, clock = _setup(tmp_path)
    _touch(path, BASE.replace("type: pattern", "type: camera").replace("strength: 1.0", "strength: 0.5"), clock)
    result = reloader.check()
    assert result.needs_restart == ["source.type"] and result.applied == ["style.strength"]
    assert reloader.current.source.type == "pattern" and reloader.current.style.strength == 0.5


def test_attract_source_needs_a_restart(tmp_path):
    """attract.source decides whether the show has a generator to switch to: changing it is not hot."""
    path, reloader, applied, clock = _setup(tmp_path)
    _touch(path, BASE + "attract: {source: generator}\n", clock)
    result = reloader.check()
    assert "attract.source" in result.needs_restart and reloader.current.attract.source == "live"


def test_bad_reload_keeps_the_running_config(tmp_path, caplog):
    """A broken file on reload keeps the old config and says why (file, key, expectation)."""
    path, reloader, applied, clock = _setup(tmp_path)
    _touch(path, BASE.replace("strength: 1.0", "strength: loud"), clock)
    result = reloader.check()
    assert not result.ok and "style.strength" in result.error and applied == []
    assert reloader.current.style.strength == 1.0
    assert "keeps running with the previous config" in caplog.text


def test_unchanged_file_is_not_reloaded(tmp_path):
    """Checks are rate-limited and only a changed file is read again."""
    path, reloader, applied, clock = _setup(tmp_path)
    assert reloader.check() is None
    clock.t += 5
    assert reloader.check() is None and applied == []


def test_merged_config_stays_a_validated_show_config(tmp_path):
    """After a reload the running config still knows its file, and its changed section equals a fresh load's."""
    path, reloader, applied, clock = _setup(tmp_path)
    _touch(path, BASE + "hours: {schedule: {daily: '10:00-18:00'}}\nattract: {idle_s: 30}\n", clock)
    result = reloader.check()
    assert result.ok and set(result.applied) == {"hours.schedule", "attract.idle_s"}
    assert reloader.current.source_file == str(path)
    assert reloader.current.hours == load_config(path).hours and reloader.current.attract.idle_s == 30


def test_an_emptied_file_keeps_the_running_config(tmp_path):
    """A file caught empty mid-write is refused, not loaded as all the defaults; the finished write applies."""
    path, reloader, applied, clock = _setup(tmp_path)
    _touch(path, "", clock)
    result = reloader.check()
    assert not result.ok and "empty" in result.error and applied == []
    assert reloader.current.director.min_show_s == 20
    _touch(path, BASE.replace("min_show_s: 20", "min_show_s: 5"), clock)
    assert reloader.check().applied == ["director.min_show_s"] and reloader.current.director.min_show_s == 5


PROJECTORS = """
source: {type: pattern}
display:
  - {width: 320, height: 180, region: [0, 0, 320, 180]}
  - {width: 320, height: 180, region: [256, 0, 320, 180]}
"""


def test_projector_calibration_reloads_live_and_the_rest_of_display_needs_a_restart(tmp_path):
    """A new mesh and gain on the second projector apply; a moved region is named as needing a restart."""
    path = tmp_path / "show.yaml"
    path.write_text(PROJECTORS)
    applied = []
    clock = Clock()
    reloader = ConfigReloader(path, load_config(path), lambda old, new: applied.append(new), every_s=1.0, clock=clock)
    mesh = "mesh: [[[0, 0], [1, 0]], [[0, 1], [1, 0.9]]], gain: [1, 0.9, 0.8]"
    changed = PROJECTORS.replace("region: [256, 0, 320, 180]}", f"region: [250, 0, 320, 180], {mesh}}}")
    _touch(path, changed, clock)
    result = reloader.check()
    assert result.ok and set(result.applied) == {"display.outputs[0].mesh", "display.outputs[0].gain"}
    assert result.needs_restart == ["display.outputs[0].region"]
    out = reloader.current.display.outputs[0]
    assert out.mesh[1][1] == (1.0, 0.9) and out.gain == (1.0, 0.9, 0.8) and out.region == (256, 0, 320, 180)
