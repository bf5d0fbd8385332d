"""The bus section: the URL from the environment wins, passwords never shown, a wrong URL named clearly."""

import pytest

from engine.errors import ConfigError
from engine.style import StyleMix
from installation.bus.build import build_bus
from installation.bus.inprocess import InProcessBus
from installation.bus.settings import BusSettings, redact
from installation.config.schema import config_from_dict


def test_the_environment_url_overrides_the_file(monkeypatch):
    """$LATERNA_BUS_URL replaces bus.url, so one set of config files serves every site."""
    monkeypatch.setenv("LATERNA_BUS_URL", "redis://10.0.0.5:6379/1")
    assert BusSettings(url="redis://hub.local:6379/0").effective_url() == "redis://10.0.0.5:6379/1"
    monkeypatch.delenv("LATERNA_BUS_URL")
    assert BusSettings(url="redis://hub.local:6379/0").effective_url() == "redis://hub.local:6379/0"


def test_passwords_are_redacted():
    """A password in a URL is shown as *** in logs and on the panel."""
    assert redact("redis://show:s3cret@hub.local:6379/0") == "redis://show:***@hub.local:6379/0"
    assert redact("rediss://:s3cret@hub:6380") == "rediss://:***@hub:6380"
    assert redact("unix:///run/redis.sock") == "unix:///run/redis.sock"
    assert redact("rediss://show:p@ss:w@rd@hub:6380/0") == "rediss://show:***@hub:6380/0"  # an unescaped @ too
    assert redact("redis://hub:6379/0?password=s3cret&db=1") == "redis://hub:6379/0?password=***&db=1"
    assert redact("rediss://show@hub:6380/0") == "rediss://show@hub:6380/0"


def test_a_wrong_url_names_the_key():
    """bus.url must be redis://, rediss:// or unix://; the error names the key."""
    with pytest.raises(ConfigError, match="bus.url"):
        config_from_dict({"bus": {"url": "http://hub:6379"}})


def test_no_url_is_the_in_process_bus_and_a_hub_needs_one(monkeypatch):
    """Without a URL the show is one process (the loop's own post); a hub without Redis is a config error."""
    monkeypatch.delenv("LATERNA_BUS_URL", raising=False)
    posted = []
    bus = build_bus(BusSettings(), posted.append, StyleMix.single(2, 0))
    assert isinstance(bus, InProcessBus)
    with pytest.raises(ConfigError, match="hub"):
        build_bus(BusSettings(role="hub"), posted.append, StyleMix.single(2, 0))
