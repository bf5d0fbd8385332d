from installation.bench.show import e2e_table


def test_e2e_table_puts_bare_and_loop_side_by_side(tiny_model):
    """The end-to-end table has one row per sessions x threads with fps and CPU ms per frame of both."""
    lines = e2e_table(tiny_model, seconds=0.3, quick=True).splitlines()
    assert "overhead (CPU)" in lines[1] and "bare CPU ms/frame" in lines[1]
    rows = [line for line in lines[3:] if line.startswith("| 640x360")]
    assert len(rows) == 2 and all(float(cell) > 0 for cell in rows[0].split("|")[3:5])
