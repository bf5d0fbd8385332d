import pytest

from installation.bench.show import e2e_table


def test_e2e_table_puts_bare_and_loop_side_by_side(tiny_model):
    """The end-to-end table has one row per sessions x threads with fps and CPU ms per frame of both, the medians
    of alternating bare/loop pairs, and each pair's overhead."""
    lines = e2e_table(tiny_model, seconds=0.6, quick=True, rounds=2).splitlines()
    assert "overhead (CPU)" in lines[1] and "bare CPU ms/frame" in lines[1] and "medians of 2" in lines[0]
    rows = [line for line in lines[3:] if line.startswith("| 640x360")]
    assert len(rows) == 2 and all(float(cell) > 0 for cell in rows[0].split("|")[3:5])
    assert len(rows[0].split("|")[6].split("/")) == 2  # one overhead per pair


def test_overhead_table_splits_an_end_to_end_frame_into_its_steps(tiny_model):
    """The breakdown names each step's CPU ms per frame; the steps add up to the whole e2e frame."""
    from installation.bench.show import overhead_table

    lines = overhead_table(tiny_model, (64, 36), 2, 1, 0.3).splitlines()
    cells = {row.split("|")[1].strip(): float(row.split("|")[3]) for row in lines[3:]}
    steps = [k for k in cells if not k.startswith(("all", "bare"))]
    assert len(steps) == 5 and cells["model: ONNX Runtime session runs"] > 0
    smoothing = next(v for k, v in cells.items() if k.startswith("tensor -> picture + smoothing"))
    assert smoothing > 0 and cells["built-in source: render"] > 0
    assert abs(sum(cells[k] for k in steps) - cells["all (e2e, CPU ms per frame shown)"]) < 0.05


def test_the_steady_rate_counts_the_show_running_not_its_start_and_stop():
    """fps and CPU ms per frame come from the first and last marks only: frames shown between them over the time
    between them (what came before the first mark, the pipeline filling up, and after the last, frames still in
    work at the stop, are not counted); marks spanning no time or no frames give None."""
    from installation.bench.timing import steady_rate

    marks = [(10.0, 1.0, 2), (10.1, 1.004, 3), (10.3, 1.012, 5)]
    fps, cpu_ms = steady_rate(marks)
    assert fps == pytest.approx(10.0) and cpu_ms == pytest.approx(4.0)
    assert steady_rate(marks[:1]) is None and steady_rate([(1.0, 0.0, 2), (1.0, 0.0, 3)]) is None


def test_the_loop_reports_its_steady_rate_beside_the_whole_run(tiny_model):
    """run_loop gives fps and CPU ms per frame both over the whole run and over the steady window; the steady
    window holds fewer frames than the run (it starts once every worker has shown a picture)."""
    from engine.sources.pattern import PatternSource
    from installation.bench.timing import loop_fps

    stats = loop_fps(lambda: PatternSource(64, 36, fps=1000.0), tiny_model, (64, 36), 2, 1, 0.4)
    assert 0 < stats["frames_steady"] < stats["frames"] and stats["fps_steady"] > 0 and stats["cpu_ms_steady"] > 0
    assert stats["fps_overall"] > 0 and stats["cpu_ms"] > 0
