"""Laterna's one exception tree. Catch these at task boundaries, log once with context."""


class EngineError(Exception):
    """Base of every error Laterna raises on purpose."""


class ConfigError(EngineError):
    """A config file or value is wrong; the message names the file, the key and what was expected."""


class SourceError(EngineError):
    """A frame source failed (camera lost, file unreadable)."""


class BackendError(EngineError):
    """An inference backend failed to load or run, or was given inputs it cannot take."""


class ModelError(BackendError):
    """A model file or its manifest is missing, corrupt, or does not match."""


class SinkError(EngineError):
    """A frame sink (window, recorder, stream) failed."""


class ExportError(EngineError):
    """Training, export or a parity check failed."""
