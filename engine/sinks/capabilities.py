"""Capabilities a sink may add beyond ``FrameSink``, named as small checkable protocols.

``isinstance(sink, Overlays)`` replaces probing for attribute names, so a new sink that draws text
or takes keys says so by having the members, and its callers find it without a list to keep in sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Overlays(Protocol):
    """A sink that draws named text overlays (and an optional picture, e.g. a QR code) over the frames."""

    def set_overlay(
        self,
        name: str,
        lines: Sequence[str] | None,
        position: str = "bottom",
        image: np.ndarray | None = None,
        size_px: int = 0,
    ) -> None:
        """Show ``lines`` (and ``image``) at ``position`` under ``name``, text ``size_px`` high (0: the sink's
        default); None removes the overlay."""


@runtime_checkable
class Warpable(Protocol):
    """A projector window whose picture can be keystoned and mesh-warped while the show runs."""

    def set_keystone(self, corners: Sequence[Sequence[float]] | None) -> None: ...

    def set_mesh(self, mesh: Sequence[Sequence[Sequence[float]]] | None) -> None: ...


@runtime_checkable
class KeyInput(Protocol):
    """A sink with a keyboard (a window): handlers are called with the key's name, e.g. "b"."""

    key_handlers: list[Callable[[str], None]]
