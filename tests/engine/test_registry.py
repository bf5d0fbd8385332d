import pytest

from engine.errors import ConfigError
from engine.registry import BACKENDS, resolve
from engine.sinks.headless import HeadlessSink


def test_resolve_imports_the_registered_class():
    """A registered name resolves to its class, imported on demand."""
    assert resolve({"headless": "engine.sinks.headless:HeadlessSink"}, "headless", "sink") is HeadlessSink


def test_unknown_name_lists_the_known_ones():
    """An unknown type name is a ConfigError that names the known types."""
    with pytest.raises(ConfigError, match="unknown backend type 'tpu'.*onnxruntime"):
        resolve(BACKENDS, "tpu", "backend")


def test_an_entry_that_is_not_a_class_is_a_config_error():
    """A table entry naming something other than a class is a ConfigError, not a non-class handed on."""
    with pytest.raises(ConfigError, match="not a class"):
        resolve({"odd": "engine.manifest:FORMAT"}, "odd", "source")
