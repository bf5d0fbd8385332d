import pytest

from installation.bench.pytriton import unavailable_reason
from installation.bench.triton import triton_table

NO_SERVER = unavailable_reason()


@pytest.mark.skipif(NO_SERVER is not None, reason=f"no local Triton server: {NO_SERVER}")
def test_triton_table_puts_remote_and_local_side_by_side(tiny_model):
    """The table has the round trips (both wires) and the 1- and 3-node rows, each with a Triton and a local
    figure."""
    lines = triton_table(tiny_model, seconds=0.3, quick=True).splitlines()
    assert "via Triton" in lines[1] and "local ORT" in lines[1]
    rows = {line.split("|")[1].strip(): line.split("|")[2:5] for line in lines[3:]}
    assert set(rows) == {
        "1 frame round trip, uint8 wire, ms (median)",
        "1 frame round trip, float32 wire, ms (median)",
        "1 node, frames/s in all",
        "3 nodes, frames/s in all",
    }
    for remote, local, ratio in rows.values():
        assert float(remote) > 0 and float(local) > 0 and ratio.strip().endswith("x")


def test_triton_table_says_why_it_is_skipped(tiny_model, monkeypatch, tmp_path):
    """Without the PyTriton environment the table is one line that says how to get it, not an error."""
    monkeypatch.setenv("LATERNA_TRITON_PYTHON", str(tmp_path / "no-such-python"))
    assert triton_table(tiny_model, seconds=0.3, quick=True) == (
        f"Triton: skipped, no {tmp_path / 'no-such-python'} (run `make triton`: it installs nvidia-pytriton into "
        ".venv-triton)"
    )
