"""laterna bench --tables streams: the frame stamp survives JPEG, and the tables come out with every row."""

import cv2
import numpy as np
import pytest

from installation.bench.streams import LATENCY_PROBES, VIEWER_KINDS, read_stamp, stamp, streams_table


def test_the_frame_stamp_survives_a_jpeg_round_trip():
    """A number stamped into a busy picture reads back after JPEG q50 encoding and decoding."""
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    for number in (0, 1, 4242, 65535):
        ok, jpeg = cv2.imencode(".jpg", stamp(picture, number), [cv2.IMWRITE_JPEG_QUALITY, 50])
        assert ok
        assert read_stamp(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)) == number


@pytest.mark.slow
def test_streams_table_measures_every_protocol_and_viewer_count(tiny_model):
    """A quick run prints latency for every probe and a row per viewer kind and count, with numbers in them."""
    text = streams_table(tiny_model.path, seconds=0.5, quick=True)
    lines = text.splitlines()
    for name in LATENCY_PROBES:
        row = next(line for line in lines if line.startswith(f"| {name} ") and line.count("|") == 5)
        assert float(row.split("|")[2]) > 0  # a p50 was measured
    for kind in VIEWER_KINDS:
        rows = [line for line in lines if line.startswith(f"| {kind} ") and line.count("|") == 7]
        assert [int(r.split("|")[2]) for r in rows] == [0, 1, 4] * 2  # the show table, then serving alone
    assert "Shared JPEG encode" in text
