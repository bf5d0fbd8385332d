"""``laterna bench --tables cluster`` prints the in-process, Redis and Redis-with-zones rows side by side (or
says why not)."""

import shutil

from installation.bench.cluster import cluster_table


def test_cluster_table_has_both_buses(tiny_model):
    """One run, one table: an in-process row, and Redis rows (one zone; a zone per loop) where redis-server
    exists, else the reason."""
    text = cluster_table(tiny_model.path, nodes=2)
    assert "| in-process" in text
    if shutil.which("redis-server"):
        assert "| Redis (unix socket) " in text and "| Redis (unix socket), 2 zones" in text
    else:
        assert "Redis rows skipped: redis-server is not installed" in text
