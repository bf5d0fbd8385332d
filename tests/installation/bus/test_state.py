"""The hub's ShowState: events applied as the frame loop applies them, on a given clock; JSON round trip."""

from engine.events import Blackout, Freeze, SelectSource, SetStrength, SetTransition, Snapshot, TargetChanged
from engine.style import StyleMix
from installation.bus.state import ShowState, StateKeeper


class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_target_glides_from_where_the_picture_is_at_that_moment():
    """A new target mid-glide starts from the mix on screen at the hub's time, with the configured length."""
    clock = ManualClock()
    keeper = StateKeeper(StyleMix.single(2, 0), transition_s=4.0, clock=clock)
    keeper.apply(TargetChanged(StyleMix.single(2, 1)))
    clock.t += 2.0
    keeper.apply(TargetChanged(StyleMix.single(2, 0), seconds=1.0))
    g = keeper.state.glide
    assert g.t0 == clock.t and g.duration == 1.0
    assert abs(g.start.weights[1] - 0.5) < 1e-9  # halfway through the smoothstep glide


def test_flags_and_settings_change_the_state_and_its_sequence():
    """Blackout, freeze, strength, transition and source are in the state; each change raises seq."""
    keeper = StateKeeper(StyleMix.single(2, 0), clock=ManualClock())
    seqs = [keeper.state.seq]
    for event in (Blackout(True), Freeze(True), SetStrength(0.3, 0.0), SetTransition(7.0), SelectSource("generator")):
        assert keeper.apply(event)
        seqs.append(keeper.state.seq)
    s = keeper.state
    assert s.blackout and s.frozen and s.target.strength == 0.3 and s.transition_s == 7.0 and s.source == "generator"
    assert seqs == sorted(set(seqs))


def test_events_that_are_not_state_leave_it_alone():
    """A snapshot travels as itself: the state (and its seq) stays as it was."""
    keeper = StateKeeper(StyleMix.single(2, 0), clock=ManualClock())
    before = keeper.state
    assert not keeper.apply(Snapshot("/tmp/x.png"))
    assert keeper.state == before


def test_the_state_survives_its_dict_form():
    """to_dict/from_dict keep every field, so a node rebuilds exactly what the hub decided."""
    keeper = StateKeeper(StyleMix.single(3, 0), clock=ManualClock())
    keeper.apply(TargetChanged(StyleMix((0.2, 0.3, 0.5), 0.8, 0.1), 2.5, "linear", "dusk"))
    keeper.apply(Blackout(True))
    assert ShowState.from_dict(keeper.state.to_dict()) == keeper.state
