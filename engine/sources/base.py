"""The source interface: something that hands out the newest frame it has."""

from __future__ import annotations

import abc
import logging

from engine.frame import Frame

log = logging.getLogger(__name__)


class FrameSource(abc.ABC):
    """A producer of frames. ``read()`` returns the newest frame, or None when none is ready yet.

    ``read()`` never blocks for long: a source with its own capture thread returns the newest frame
    it holds; a synthetic source renders one on demand. A source that has failed raises
    ``SourceError`` from ``read()``; the loop then shows a fallback and keeps asking.
    Sources are context managers; ``close()`` is idempotent.
    """

    name: str = "source"

    def open(self) -> None:
        """Acquire resources (device, file, thread). Called once before the first read."""

    @abc.abstractmethod
    def read(self) -> Frame | None:
        """The newest frame, or None if nothing new is ready; raises SourceError when broken."""

    def close(self) -> None:
        """Release resources; safe to call more than once."""

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
