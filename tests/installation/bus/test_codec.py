"""Events as JSON and back: every event the bus carries survives the trip; anything else is refused."""

import json
from pathlib import Path

import pytest

from engine.events import (
    Blackout,
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
    Stop,
    TargetChanged,
)
from engine.style import StyleMix
from installation.bus.codec import BusMessageError, decode_event, encode_event

EVENTS = [
    TargetChanged(StyleMix((0.25, 0.75), 0.5, -0.2), 2.0, "linear", "harbour"),
    SetStrength(0.4, 1.0),
    SetWarmth(0.3),
    SetStyleWeight(1, 0.6, None, "more ink"),
    SetSmoothing(0.5),
    SetTransition(4.0, "ease-in-out"),
    Blackout(True, Path("/srv/slide.png")),
    Blackout(False),
    Freeze(True),
    Snapshot(Path("/tmp/shot.png")),
    SteerGenerator((0.1, -0.2, 0.3), 2.0),
    ReleaseGenerator(5.0),
    SelectSource("generator", 1.5),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_survives_json(event):
    """Encoded, written as JSON text, read back and decoded: the same event."""
    assert decode_event(json.loads(json.dumps(encode_event(event)))) == event


def test_stop_does_not_travel():
    """Stopping one machine's loop is not a show decision: the bus refuses to carry it."""
    with pytest.raises(BusMessageError):
        encode_event(Stop())


@pytest.mark.parametrize("data", [None, {}, {"kind": "Nope"}, {"kind": "TargetChanged", "mix": 3}])
def test_damaged_messages_are_refused_clearly(data):
    """A message that is not an event raises BusMessageError (the node skips it and says so once)."""
    with pytest.raises(BusMessageError):
        decode_event(data)
