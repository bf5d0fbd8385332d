"""``laterna bench --tables cluster`` prints the in-process and Redis rows side by side (or says why not),
and, on the same Redis, how a node started late catches up with the hub's look."""

import re
import shutil

from installation.bench.cluster import cluster_table


def test_cluster_table_has_both_buses(tiny_model):
    """One run, one table: an in-process row, and a Redis row where redis-server exists, else the reason;
    with Redis, a late node's bus and a late `laterna run` node process both reach the hub's look."""
    text = cluster_table(tiny_model.path, nodes=2, late_starts=2, late_processes=1)
    assert "| in-process" in text
    if shutil.which("redis-server"):
        assert "| Redis (unix socket)" in text
        assert re.search(r"\| a running node's bus +\| 2 +\| bus start", text)
        assert re.search(r"\| node process \(laterna run\) +\| 1 +\| process spawn", text)
    else:
        assert "Redis rows skipped: redis-server is not installed" in text
