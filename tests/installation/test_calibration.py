import os
from pathlib import Path

import numpy as np
import pygame
import pytest

from installation.calibration import Calibration, run_calibration, save_calibration
from installation.config.schema import load_config
from tests.xserver import xvfb

SHOW = """\
# yaml-language-server: $schema=laterna.schema.json
name: two-projectors   # a comment that must survive
display:
  - type: window
    width: 320
    height: 180
    vsync: false
    region: [0, 0, 320, 180]
    keystone: [[0.01, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
  - width: 320
    height: 180
    vsync: false
    position: [400, 0]
    region: [256, 0, 320, 180]   # 64 px overlap
"""


def write_show(tmp_path: Path) -> Path:
    path = tmp_path / "show.yaml"
    path.write_text(SHOW)
    return path


def test_saving_an_unchanged_calibration_gives_the_same_file_and_a_backup(tmp_path):
    """file -> settings -> file: identical text (comments kept), and the old file beside it as .bak."""
    path = write_show(tmp_path)
    backup = save_calibration(path, Calibration(load_config(path).display))
    assert path.read_text() == SHOW
    assert backup == tmp_path / "show.yaml.bak" and backup.read_text() == SHOW


def test_moved_points_round_trip_through_the_file(tmp_path):
    """A moved mesh point and corner saved, loaded back, saved again: the same settings and the same file."""
    path = write_show(tmp_path)
    cal = Calibration(load_config(path).display)
    cal.select_output(1)
    cal.point = 12  # the centre of the 5x5 mesh
    cal.move(0.05, -0.02)
    cal.toggle_mode()
    cal.move(0.01, 0.01)
    save_calibration(path, cal)
    text = path.read_text()
    loaded = load_config(path).display
    assert loaded.outputs[0].mesh[2][2] == (0.55, 0.48)
    assert loaded.outputs[0].keystone[0] == (0.01, 0.01)
    assert loaded.keystone[0] == (0.01, 0.0) and not loaded.mesh  # the first projector untouched
    assert "# a comment that must survive" in text and "# 64 px overlap" in text
    save_calibration(path, Calibration(loaded))
    assert path.read_text() == text and (tmp_path / "show.yaml.bak").read_text() == text


def test_reset_removes_the_keys(tmp_path):
    """A projector reset to the identity loses its keystone key in the file."""
    path = write_show(tmp_path)
    cal = Calibration(load_config(path).display)
    cal.reset()
    save_calibration(path, cal)
    assert not load_config(path).display.keystone and "keystone" not in path.read_text()


def test_calibrate_moves_a_point_from_the_keyboard_and_saves(tmp_path, monkeypatch):
    """`laterna calibrate` on two real windows: Tab, arrows and s move projector 2's point and save it live."""
    path = write_show(tmp_path)
    with xvfb(800, 200) as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
        pygame.display.init()
        for key, mod in [(pygame.K_TAB, 0), (pygame.K_RIGHT, pygame.KMOD_SHIFT), (pygame.K_DOWN, 0), (pygame.K_s, 0)]:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod))
        cal, sinks = run_calibration(path, max_frames=3)
    assert cal.output == 1 and cal.outputs[1].mesh[0][0] == [0.02, 0.002]
    assert sinks[1].mesh is not None and np.allclose(sinks[1].mesh[0, 0], (0.02, 0.002))  # applied live
    assert load_config(path).display.outputs[0].mesh[0][0] == (0.02, 0.002)
    assert (tmp_path / "show.yaml.bak").read_text() == SHOW
    assert os.environ.get("SDL_VIDEODRIVER") == "x11"


def test_a_file_with_a_different_number_of_outputs_is_not_overwritten(tmp_path):
    """The file changed under the calibration (an output removed): nothing is written."""
    path = write_show(tmp_path)
    cal = Calibration(load_config(path).display)
    path.write_text("display: {width: 320, height: 180}\n")
    with pytest.raises(Exception, match="not saved"):
        save_calibration(path, cal)
    assert path.read_text() == "display: {width: 320, height: 180}\n"


def test_calibrate_selects_and_drags_a_point_with_the_mouse(tmp_path, monkeypatch):
    """A click near a mesh point selects it; dragging moves it to the pointer; nothing is saved without s."""
    path = write_show(tmp_path)
    with xvfb(800, 200) as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
        pygame.display.init()
        for kind, extra in [
            (pygame.WINDOWENTER, {"window": None}),  # the pointer is over the first (the display) window
            (pygame.MOUSEBUTTONDOWN, {"pos": (158, 92), "button": 1}),  # near the centre point (159.5, 89.5)
            (pygame.MOUSEMOTION, {"pos": (175, 80), "rel": (17, -12), "buttons": (1, 0, 0)}),
            (pygame.MOUSEBUTTONUP, {"pos": (175, 80), "button": 1}),
        ]:
            pygame.event.post(pygame.event.Event(kind, **extra))
        cal, sinks = run_calibration(path, max_frames=3)
    assert cal.output == 0 and cal.mode == "mesh" and cal.point == 12
    assert cal.outputs[0].mesh[2][2] == [round(175 / 319, 4), round(80 / 179, 4)]
    assert sinks[0].mesh is not None and path.read_text() == SHOW


def test_the_calibration_pattern_has_grid_bars_ramp_and_numbers():
    """White grid lines, pure colour bars, a grey ramp along the bottom and each projector's number in its region."""
    from installation.calibration import calibration_pattern

    img = calibration_pattern(600, 180, [(0, 0, 320, 180), (280, 0, 320, 180)])
    assert (img[0] == 255).all() and (img[:, 0] == 255).all()  # grid lines start at the edges
    colours = {tuple(int(v) for v in px) for px in img[140, 1:-1:7]}
    assert {(255, 0, 0), (0, 255, 0), (0, 0, 255)} <= colours
    bottom = img[175, 1:599, 0].astype(int)
    assert bottom[0] < 10 and bottom[-1] > 245
    for x0 in (0, 280):  # a number in black and white near each region's centre
        centre = img[40:100, x0 + 130 : x0 + 190]
        assert (centre == 0).all(axis=2).any() and (centre == 255).all(axis=2).any()
