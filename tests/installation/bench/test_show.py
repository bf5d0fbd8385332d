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
