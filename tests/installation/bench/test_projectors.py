import numpy as np

from engine.frame import Frame
from engine.sinks.blend import Zones
from installation.bench.projectors import ProjectorWork, e2e_rows, step_rows


def test_step_rows_time_upscale_blend_and_warp_at_each_size():
    """One row per step (guided upscale, blend, blend + gain, warp) and size with ms and the share of a 30 fps
    frame."""
    rows = step_rows(quick=True, sizes=((96, 54),), work=(32, 18))
    assert [r[0] for r in rows] == ["96x54"] * 4 and "guided upscale from 32x18" in rows[0][1]
    assert all(float(r[2]) >= 0 and r[3].endswith("%") for r in rows)


def test_e2e_rows_run_the_real_loop_into_each_projector_setup(tiny_model):
    """Two blended projectors on a small canvas, by resize and by guided upscaling from a third of the size: the
    loop shows frames and each row reports fps > 0."""
    two = [(0, 0, 64, 36), (48, 0, 64, 36)]
    setups = (("two", (112, 36), (64, 36), two, True, "resize"), ("two", (336, 108), (112, 36), two, False, "guided"))
    rows = e2e_rows(tiny_model, 0.3, setups)
    assert rows[0][:4] == ["two", "resize", "112x36", "64x36"] and float(rows[0][4]) > 0
    assert rows[1][:4] == ["two", "guided", "336x108", "112x36"] and float(rows[1][4]) > 0


def test_projector_work_blends_the_overlap_edge():
    """The bench's projector darkens its blend zone and leaves the rest, like the window does."""
    work = ProjectorWork((0, 0, 64, 36), Zones(right=16), warped=False)
    work.show(Frame(np.full((36, 112, 3), 200, np.uint8)))
    assert (work.buf[:, :48] == 200).all() and work.buf[:, -1].max() < 40
