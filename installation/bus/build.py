"""The bus a config asks for: in-process without a URL, else Redis (the ``[cluster]`` extra)."""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError
from engine.style import StyleMix
from installation.bus.base import Bus
from installation.bus.inprocess import InProcessBus
from installation.bus.settings import BusSettings


def uses_redis(settings: BusSettings) -> bool:
    return bool(settings.effective_url())


def build_bus(
    settings: BusSettings, loop_post: Any, initial: StyleMix, transition_s: float = 3.0, ease: str = "smoothstep"
) -> Bus:
    """``InProcessBus(loop_post)`` for a one-machine show; a ``RedisBus`` when a URL is set."""
    if not uses_redis(settings):
        if settings.role == "hub":
            raise ConfigError("bus.role: hub needs bus.url (or $LATERNA_BUS_URL): a hub without Redis reaches no node")
        return InProcessBus(loop_post)
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ConfigError(
            "bus.url is set but the redis client is not installed: pip install 'laterna[cluster]'"
        ) from None
    from installation.bus.redis_bus import RedisBus

    return RedisBus(settings, initial=initial, transition_s=transition_s, ease=ease)
