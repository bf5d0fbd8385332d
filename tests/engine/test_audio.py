import logging
import sys

import numpy as np
import pytest

from engine.audio import AudioLevel


def tone(amplitude: float, n: int = 512) -> np.ndarray:
    return (amplitude * np.sin(np.arange(n) * 0.3)).astype(np.float32)


def test_level_rises_at_once_and_falls_slowly():
    """A loud block lifts the level immediately; after it, silence lowers it gradually, not at once."""
    audio = AudioLevel(release_s=0.5)
    audio.feed(tone(0.0), now=0.0)
    assert audio.level() == 0.0
    audio.feed(tone(0.5), now=0.1)
    loud = audio.level()
    assert loud > 0.8
    audio.feed(tone(0.0), now=0.2)
    assert 0.0 < audio.level() < loud
    for i in range(30):
        audio.feed(tone(0.0), now=0.3 + 0.1 * i)
    assert audio.level() < 0.05


def test_a_sudden_loud_block_is_an_onset_that_decays():
    """A block much louder than the recent average is an onset: 1 at once, 0.5 one half-life later."""
    audio = AudioLevel(onset_half_life=0.25)
    for i in range(40):
        audio.feed(tone(0.02), now=i * 0.03)  # a steady murmur has no onsets
    assert audio.onset(now=2.0) == 0.0
    audio.feed(tone(0.5), now=2.0)
    assert audio.onset(now=2.0) == pytest.approx(1.0)
    assert audio.onset(now=2.25) == pytest.approx(0.5)


def test_without_sounddevice_start_says_so_and_stays_silent(monkeypatch, caplog):
    """start() without the sounddevice package returns False, says so at INFO, and the level stays 0."""
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    audio = AudioLevel()
    with caplog.at_level(logging.INFO, logger="engine.audio"):
        assert audio.start() is False
    assert any("audio reactivity off" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    assert audio.level() == 0.0 and audio.onset() == 0.0 and not audio.active
    audio.stop()
    audio.stop()
