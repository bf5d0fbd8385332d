"""Config ``type:`` names -> classes, imported on first use so optional dependencies stay optional.

Each table maps a short name to a ``"module:Class"`` string. ``resolve`` imports only the module that
is asked for, so a kiosk without TensorRT or a display imports everything else.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from engine.errors import ConfigError

SOURCES = {
    "camera": "engine.sources.camera:CameraSource",
    "video": "engine.sources.video:VideoSource",
    "slideshow": "engine.sources.slideshow:SlideshowSource",
    "pattern": "engine.sources.pattern:PatternSource",
    "generator": "engine.sources.generator:GeneratorSource",
    "ndi": "engine.sources.ndi:NdiSource",
}
BACKENDS = {
    "onnxruntime": "engine.backends.onnxruntime:OnnxRuntimeBackend",
    "tensorrt": "engine.backends.tensorrt:TensorRTBackend",
    "torch": "engine.backends.torch:TorchBackend",
    "triton": "engine.backends.triton:TritonBackend",
}
SINKS = {
    "window": "engine.sinks.window:ProjectorSink",
    "headless": "engine.sinks.headless:HeadlessSink",
    "recorder": "engine.sinks.recorder:RecorderSink",
    "ndi": "engine.sinks.ndi:NdiSink",
}


def resolve(table: Mapping[str, str], name: str, what: str) -> type:
    """Import and return the class registered as ``name``; a clear ConfigError for unknown names."""
    try:
        target = table[name]
    except KeyError:
        raise ConfigError(f"unknown {what} type {name!r}; expected one of {sorted(table)}") from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    if not isinstance(cls, type):
        raise ConfigError(f"{what} type {name!r} is registered as {target!r}, which is not a class")
    return cls
