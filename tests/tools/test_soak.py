"""tools/soak.py: the growth fit, the table and the /proc readings it reports."""

from __future__ import annotations

import csv
import dataclasses
import os
import random
from pathlib import Path

from tools.soak import Sample, load_samples, proc_status, prompt_text, slope_per_hour, summarise


def _sample(t_s: float, rss_mb: float, fds: int = 20, threads: int = 20) -> Sample:
    return Sample(t_s, rss_mb, fds, threads, 30.0, int(t_s * 100), int(t_s), int(t_s))


def test_slope_is_per_hour() -> None:
    """A value that rises 1 per minute fits a slope of 60 per hour; a flat one 0; one point gives no slope."""
    assert slope_per_hour([(t * 60.0, 500.0 + t) for t in range(10)]) == 60.0
    assert slope_per_hour([(t * 10.0, 7.0) for t in range(10)]) == 0.0
    assert slope_per_hour([(0.0, 1.0)]) is None
    assert slope_per_hour([(5.0, 1.0), (5.0, 2.0)]) is None


def test_summary_leaves_warmup_out_of_the_fit() -> None:
    """RSS that climbs during warm-up and is flat afterwards reports +0.0 MB/h; the table shows all three minutes."""
    samples = [_sample(t, 600.0 + t / 10 if t < 300 else 630.0) for t in range(0, 1800, 10)]
    table = summarise(samples, warmup_s=300.0)
    assert "RSS +0.0 MB/h" in table
    assert "| RSS MB | 603.0 | 630.0 | 630.0 |" in table
    assert "RSS +360.0 MB/h" in summarise(samples[:30], warmup_s=0.0)


def test_proc_status_counts_an_open_file() -> None:
    """The fd count read from /proc rises by one while a file is held open; RSS and threads are positive."""
    rss, fds, threads = proc_status(os.getpid())
    with open(__file__):
        _, fds_open, _ = proc_status(os.getpid())
    assert rss > 0 and threads >= 1
    assert fds_open == fds + 1


def test_unique_prompts_differ() -> None:
    """With unique prompts no two visitors send the same text; without, they repeat the shared list."""
    rng = random.Random(0)
    assert len({prompt_text(rng, n, unique=True) for n in range(200)}) == 200
    assert len({prompt_text(rng, n, unique=False) for n in range(200)}) <= 10


def test_samples_round_trip_through_csv(tmp_path: Path) -> None:
    """Samples written as the soak writes them (None fps included) load back equal, for --summary."""
    samples = [_sample(0.0, 100.0), dataclasses.replace(_sample(10.0, 101.5), fps=None)]
    path = tmp_path / "samples.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([field.name for field in dataclasses.fields(Sample)])
        writer.writerows(dataclasses.astuple(s) for s in samples)
    assert load_samples(path) == samples
