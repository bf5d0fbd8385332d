import logging

from engine.events import Blackout, Freeze, SelectSource, Snapshot
from installation.control.hotkeys import Hotkeys
from tests.installation.control.test_show_control import Show


def keys_for(show: Show) -> Hotkeys:
    return Hotkeys(show.control.apply, show.control.state)


def test_b_and_f_toggle_blackout_and_freeze(tmp_path):
    """b posts Blackout(on) and, once the loop has it, b again turns it off; f does the same for freeze."""
    show = Show(tmp_path)
    keys = keys_for(show)
    keys("b")
    keys("b")
    keys("f")
    assert show.posted == [Blackout(True), Blackout(False), Freeze(True)]


def test_g_switches_between_the_dream_and_the_live_picture(tmp_path):
    """g crossfades to the generator from the live picture and back to live from the generator."""
    show = Show(tmp_path)
    keys = keys_for(show)
    keys("g")
    show.selected = "generator"  # the loop's switch applied it
    keys("G")
    assert show.posted == [SelectSource("generator"), SelectSource("live")]


def test_s_and_n_snapshot_and_skip_other_keys_do_nothing(tmp_path, caplog):
    """s saves a snapshot, n ends the prompt's turn, unknown keys post nothing; a refused command is a
    warning (g in a show without a generator switch)."""
    show = Show(tmp_path)
    keys = keys_for(show)
    show.director.shown_at = 5.0
    keys("s")
    keys("n")
    keys("x")
    keys("space")
    assert len(show.posted) == 1 and isinstance(show.posted[0], Snapshot)
    assert show.director.shown_at < 0  # skipped
    show.control.sources = ()
    with caplog.at_level(logging.WARNING, logger="installation.control.hotkeys"):
        keys("g")
    assert len(show.posted) == 1 and "attract.source" in caplog.records[-1].getMessage()
