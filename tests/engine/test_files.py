import threading

import numpy as np
import pytest

from engine.errors import EngineError
from engine.files import FileWorker, read_still, write_png


def test_file_worker_is_bounded_and_warns_once(caplog):
    """While the worker is busy, jobs beyond its queue are refused at once with one warning, then it catches up."""
    worker = FileWorker(max_jobs=2)
    release, started, done = threading.Event(), threading.Event(), []
    worker.submit(lambda: (started.set(), release.wait(10)), "blocker")
    assert started.wait(5.0)
    accepted = [worker.submit(lambda i=i: done.append(i), f"job {i}") for i in range(5)]
    release.set()
    worker.close()
    assert accepted == [True, True, False, False, False] and done == [0, 1]
    assert caplog.text.count("file work is behind") == 1


def test_png_round_trip_and_clear_errors(tmp_path):
    """write_png makes folders and writes RGB; read_still resizes; an unreadable file is an EngineError."""
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[..., 0] = 255
    path = write_png(tmp_path / "a" / "b.png", rgb)
    back = read_still(path, (40, 20))
    assert back.shape == (20, 40, 3) and (back[..., 0] == 255).all() and back[..., 2].max() == 0
    with pytest.raises(EngineError, match="cannot be read"):
        read_still(tmp_path / "missing.png", (4, 4))
