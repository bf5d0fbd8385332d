"""A hub (no frame loop) reloads its config file as a one-machine show does: pacing, moderation, opening
hours and the glide settings change while it runs, on their owners' threads; a bad or empty file is
refused with one clear message and the hub keeps what it had. A real HubInstallation on a real Redis."""

import logging
import os
import threading
from pathlib import Path

import pytest
import yaml

from installation.config.schema import load_config
from installation.hub import HubInstallation
from tests.installation.bus.conftest import redis_server  # noqa: F401 - the fixture
from tests.installation.bus.redis_child import wait_for

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, data: dict | str) -> None:
    """Replace the file in one step, its mtime a second on from the old one, so the watch sees exactly one
    change whatever the clock's resolution."""
    before = os.stat(path).st_mtime_ns if path.exists() else 0
    draft = path.with_suffix(".draft")
    draft.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    st = os.stat(draft)
    os.utime(draft, ns=(st.st_atime_ns, max(st.st_mtime_ns, before) + 1_000_000_000))
    os.replace(draft, path)


@pytest.fixture()
def hub_config(tmp_path, redis_server):  # noqa: F811 - the fixture imported above
    data = yaml.safe_load((ROOT / "configs" / "cluster" / "hub.yaml").read_text(encoding="utf-8"))
    data["bus"]["url"] = redis_server.url
    data["server"].update({"port": 0, "host": "127.0.0.1"})
    data["director"] = {"min_show_s": 20.0}
    data["moderation"] = {"block": ["grey"]}
    path = tmp_path / "hub.yaml"
    write(path, data)
    return path, data


@pytest.fixture()
def running_hub(hub_config, monkeypatch):
    monkeypatch.delenv("LATERNA_BUS_URL", raising=False)
    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", "hub-reload-test-operator-token-0123")
    path, data = hub_config
    hub = HubInstallation(load_config(path), port=0)
    thread = threading.Thread(target=hub.run, name="test-hub", daemon=True)
    thread.start()
    wait_for(lambda: hub.server_thread is not None and hub.server_thread.loop is not None, 30, "the hub serves")
    yield hub, path, data
    hub.stop()
    thread.join(timeout=150)


def test_a_running_hub_takes_safe_changes_from_its_file(running_hub, caplog):
    """Pacing, moderation words, opening hours and the glide time change in the running hub: every zone's
    Director on its thread, the glide time in every zone's state; a changed port is only named."""
    caplog.set_level(logging.INFO)
    hub, path, data = running_hub
    director = hub.director
    assert director.settings.min_show_s == 20.0 and director.hours is None
    data["director"] = {"min_show_s": 5.0}
    data["moderation"] = {"block": ["grey", "beige"]}
    data["hours"] = {"schedule": {"mon-sun": "00:00-23:59"}}
    data["style"]["transition_s"] = 7.5
    data["server"]["port"] = 9999
    write(path, data)
    wait_for(lambda: director.settings.min_show_s == 5.0, 15, "the new pacing reaches the Director")
    wait_for(lambda: hub.bus.keeper.state.transition_s == 7.5, 30, "the glide time reaches the hub's state")
    wait_for(lambda: director.hours is not None, 30, "the opening hours reach the Director")
    assert director.moderator.check("a beige sky").allowed is False
    assert any("server.port" in r.getMessage() and "restart" in r.getMessage() for r in caplog.records)
    assert list(hub.directors) == ["room-1", "room-2", "room-3"]  # configs/cluster/hub.yaml's zones: each one's
    for zone, each in hub.directors.items():
        wait_for(lambda each=each: each.settings.min_show_s == 5.0 and each.hours is not None, 10, zone)
        assert each.moderator.check("a beige sky").allowed is False
        assert hub.bus.keeper_of(zone).state.transition_s == 7.5


@pytest.mark.parametrize("bad", ["", "director: {min_show_s: -3}\n", "director: [unclosed\n"])
def test_a_bad_or_empty_file_is_refused_once_and_the_hub_keeps_its_settings(running_hub, caplog, bad):
    """An empty file, a wrong value or broken YAML: one WARNING saying the previous config stays; the
    Director keeps its pacing; the next good file applies."""
    caplog.set_level(logging.INFO)
    hub, path, data = running_hub
    write(path, bad)

    def refused():
        return [r for r in caplog.records if r.levelno == logging.WARNING and "config reload failed" in r.getMessage()]

    wait_for(refused, 15, "the bad file is refused")
    assert hub.director.settings.min_show_s == 20.0 and hub.bus.connected
    data["director"] = {"min_show_s": 4.0}
    write(path, data)
    wait_for(lambda: hub.director.settings.min_show_s == 4.0, 15, "the next good file applies")
    assert len(refused()) == 1


def test_the_hubs_opening_hours_reach_its_director_at_start(hub_config, monkeypatch):
    """A hub whose file has opening hours hands them to its Director when it starts (visitors are told)."""
    monkeypatch.delenv("LATERNA_BUS_URL", raising=False)
    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", "hub-reload-test-operator-token-0123")
    path, data = hub_config
    data["hours"] = {"schedule": {"mon-sun": "00:00-23:59"}}
    write(path, data)
    hub = HubInstallation(load_config(path), port=0)
    thread = threading.Thread(target=hub.run, name="test-hub", daemon=True)
    thread.start()
    try:
        wait_for(lambda: hub.director.hours is not None, 30, "the Director has the opening hours")
    finally:
        hub.stop()
        thread.join(timeout=150)
