"""The 3-room cluster configs (configs/cluster/) run through the real ``laterna run`` with no Redis to be
found: a render node keeps rendering its own look at full rate and says once that Redis is unreachable;
the hub starts and stops cleanly, saying the same."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.configs.test_presets import headless_copy

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = sorted((ROOT / "configs" / "cluster").glob("*.yaml"))


def test_the_three_room_example_is_complete():
    """A hub and three nodes, each node in its own zone (an empty glob would make the check below vacuous)."""
    names = {p.stem for p in CLUSTER}
    assert names == {"hub", "node-1", "node-2", "node-3"}
    zones = {yaml.safe_load(p.read_text())["bus"].get("zone") for p in CLUSTER if p.stem != "hub"}
    assert zones == {"room-1", "room-2", "room-3"}


@pytest.mark.parametrize("preset", CLUSTER, ids=lambda p: p.stem)
def test_cluster_preset_runs_without_redis(preset, tmp_path):
    """With Redis unreachable the node renders stylised frames without errors and the hub runs and stops;
    each says once that Redis cannot be reached."""
    pytest.importorskip("redis", reason="the redis client is not installed (pip install 'laterna[cluster]')")
    folder = tmp_path / "show"
    folder.mkdir()
    (folder / "cluster").mkdir()
    copy = headless_copy(preset, folder / "cluster")
    stats_file = tmp_path / "stats.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "LATERNA_BUS_URL": f"unix://{tmp_path}/nobody-here.sock",
    }
    run = subprocess.run(
        [sys.executable, "-m", "installation.cli", "run", str(copy), "--headless", "--seconds", "5"]
        + ["--stats-out", str(stats_file), "--no-server", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert log.count("is unreachable") == 1 and "Traceback" not in log, log[-3000:]
    stats = json.loads(stats_file.read_text())
    if preset.stem == "hub":
        assert stats["role"] == "hub"
        return
    assert stats["frames"] >= 1 and stats["errors"] == 0, (stats, log[-3000:])
    assert stats["frames"] - stats["styled_frames"] <= max(2, 0.05 * stats["frames"]), (stats, log[-3000:])
