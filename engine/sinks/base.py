"""The sink interface: something that consumes finished frames (a window, a recorder, a stream)."""

from __future__ import annotations

import abc
from typing import Self

from engine.frame import Frame


class FrameSink(abc.ABC):
    """A consumer of frames. ``show()`` takes the newest finished frame; it must not block for long.

    ``poll()`` is called once per tick from the main thread (window events); it returns False when
    the sink wants the show to stop (window closed, Esc pressed). Sinks are context managers and
    ``close()`` is idempotent.
    """

    name: str = "sink"

    def open(self) -> None:
        """Acquire resources (window, file). Called once, from the main thread."""

    @abc.abstractmethod
    def show(self, frame: Frame) -> None:
        """Present or store one frame; raises SinkError when broken."""

    def poll(self) -> bool:
        """Handle pending events; False asks the loop to stop."""
        return True

    def close(self) -> None:
        """Release resources; safe to call more than once."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
