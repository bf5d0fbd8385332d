"""Frame-loop events as JSON-able dicts and back, for the Redis bus (no sockets here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.events import (
    Blackout,
    Event,
    Freeze,
    ReleaseGenerator,
    SelectSource,
    SetSmoothing,
    SetStrength,
    SetStyleWeight,
    SetTransition,
    SetWarmth,
    Snapshot,
    SteerGenerator,
    TargetChanged,
)
from engine.style import StyleMix

EVENTS: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        TargetChanged,
        SetStrength,
        SetWarmth,
        SetStyleWeight,
        SetSmoothing,
        SetTransition,
        Blackout,
        Freeze,
        Snapshot,
        SteerGenerator,
        ReleaseGenerator,
        SelectSource,
    )
}


class BusMessageError(EngineError):
    """A message on the bus that is not a known event (another version of Laterna, or damage)."""


def mix_to_dict(mix: StyleMix) -> dict[str, Any]:
    return {"weights": list(mix.weights), "strength": mix.strength, "warmth": mix.warmth}


def mix_from_dict(data: Any) -> StyleMix:
    if not isinstance(data, dict) or not isinstance(data.get("weights"), list):
        raise BusMessageError(f"expected a mix with weights, got {data!r:.80}")
    return StyleMix(
        tuple(float(w) for w in data["weights"]), float(data.get("strength", 1.0)), float(data.get("warmth", 0.0))
    )


def encode_event(event: Event) -> dict[str, Any]:
    """``{"kind": "TargetChanged", "mix": {...}, ...}``; BusMessageError for an event the bus does not carry."""
    kind = type(event).__name__
    if EVENTS.get(kind) is not type(event):
        raise BusMessageError(f"{kind} does not travel on the bus")
    out: dict[str, Any] = {"kind": kind}
    for field in dataclasses.fields(event):  # type: ignore[arg-type]
        value = getattr(event, field.name)
        if isinstance(value, StyleMix):
            value = mix_to_dict(value)
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[field.name] = value
    return out


def decode_event(data: Any) -> Event:
    """The event a dict from ``encode_event`` describes; BusMessageError if it is not one."""
    if not isinstance(data, dict) or data.get("kind") not in EVENTS:
        raise BusMessageError(f"not an event: {data!r:.80}")
    cls = EVENTS[data["kind"]]
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in data:
            continue
        value = data[field.name]
        if field.name == "mix":
            value = mix_from_dict(value)
        elif field.name in ("slide", "path") and value is not None:
            value = Path(value)
        elif field.name == "latent":
            value = tuple(float(v) for v in value)
        kwargs[field.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise BusMessageError(f"bad {data['kind']}: {exc}") from None
