import os

import pytest

from engine.atomic_file import write_atomic


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    """write_atomic writes text or bytes over a file in one step and leaves nothing else in the folder."""
    path = tmp_path / "stats.json"
    write_atomic(path, "old\n")
    write_atomic(path, b"new bytes")
    assert path.read_bytes() == b"new bytes" and os.listdir(tmp_path) == ["stats.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    """When writing fails (here: data that is not bytes), the old file is untouched and no temporary is left."""
    path = tmp_path / "m.json"
    write_atomic(path, "kept\n")
    with pytest.raises(TypeError):
        write_atomic(path, 12345)  # type: ignore[arg-type]
    assert path.read_text() == "kept\n" and os.listdir(tmp_path) == ["m.json"]
