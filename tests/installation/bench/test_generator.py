from installation.bench.generator import generator_table
from tests.exporters.tiny_gan import tiny_generator


def test_generator_table_compares_the_generator_and_camera_paths(tiny_model, tmp_path):
    """The table has one row each for the generator alone, generator + style network and the camera path."""
    table = generator_table(tiny_model, tiny_generator(tmp_path), seconds=0.4)
    lines = table.splitlines()
    assert lines[0].startswith("Generator path vs camera path at 640x360")
    rows = [line for line in lines[3:] if line.startswith("|")]
    assert len(rows) == 3
    assert "generator alone (16x16 -> 640x360)" in rows[0]
    assert "generator -> style network" in rows[1] and "camera path" in rows[2]
