"""NDI in the show's config: the ``ndi`` section, ``source.type: ndi``, and what the show builds from them."""

import json
import os
import time

import pytest

from engine.errors import ConfigError, SourceError
from installation.config.schema import config_from_dict


def test_ndi_is_off_by_default_and_bad_addresses_are_named():
    """No NDI unless asked; an ``ndi.ips`` entry that is not an IP address is an error naming ndi.ips."""
    assert config_from_dict({}, "t.yaml").ndi.send is False
    with pytest.raises(ConfigError, match="ndi.ips"):
        config_from_dict({"ndi": {"ips": ["gallery-pc"]}}, "t.yaml")


def test_an_ndi_source_needs_its_name():
    """source.type ndi without source.ndi_name is an error naming ndi_name."""
    with pytest.raises(ConfigError, match="ndi_name"):
        config_from_dict({"source": {"type": "ndi"}}, "t.yaml")


def test_sending_ndi_needs_streams(tiny_model):
    """ndi.send without streams.enabled is refused when the show is built, saying what to turn on."""
    from installation.show import build_sinks

    cfg = config_from_dict({"model": {"manifest": str(tiny_model.path)}, "ndi": {"send": True}}, "t.yaml")
    with pytest.raises(ConfigError, match="streams.enabled"):
        build_sinks(cfg, headless=True)


@pytest.mark.slow
def test_a_missing_ndi_source_falls_back_and_the_discovery_config_is_written(tmp_path, monkeypatch):
    """source.type ndi with nobody sending: the show's source shows the fallback (the pattern) after the open
    timeout, and with ndi.ips Laterna wrote the unicast config NDI_CONFIG_DIR points at."""
    pytest.importorskip("cyndilib", reason="cyndilib is not installed (pip install '.[ndi]')")
    from installation.show import build_source

    monkeypatch.setenv("NDI_CONFIG_DIR", os.environ.get("NDI_CONFIG_DIR", ""))  # restored after the test
    cfg = config_from_dict(
        {
            "source": {"type": "ndi", "ndi_name": "nobody-sends-this", "stale_after_s": 1.0, "crossfade_s": 0.0},
            "ndi": {"ips": ["127.0.0.1"], "config_dir": str(tmp_path / "ndi")},
        },
        "t.yaml",
    )
    source = build_source(cfg)
    written = json.loads((tmp_path / "ndi" / "ndi-config.v1.json").read_text())
    assert written["ndi"]["networks"]["ips"] == "127.0.0.1"
    assert os.environ["NDI_CONFIG_DIR"] == str(tmp_path / "ndi")
    source.open()
    try:
        deadline = time.monotonic() + 30
        frame = None
        while time.monotonic() < deadline:
            try:
                frame = source.read()
            except SourceError:
                frame = None
            if frame is not None and "pattern" in (frame.source or ""):
                break
            time.sleep(0.05)
        assert frame is not None and "pattern" in (frame.source or ""), frame and frame.source
    finally:
        source.close()
