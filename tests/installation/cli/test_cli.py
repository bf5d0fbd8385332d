import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _laterna(*args, env=None, timeout=180):
    e = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        e.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "installation.cli.main", *args],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_headless_writes_valid_stats(tmp_path):
    """`laterna run --headless --frames 60 --stats-out` shows 60 frames of the bundled model and writes stats."""
    out = tmp_path / "stats.json"
    proc = _laterna("run", "--headless", "--frames", "60", "--stats-out", str(out), "--port", "0")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(out.read_text())
    for key in ("frames", "fps", "frame_ms", "model_ms", "latency_ms", "dropped", "errors", "backend", "resolution"):
        assert key in stats
    assert stats["frames"] == 60 and stats["fps"] > 0 and stats["errors"] == 0
    assert set(stats["frame_ms"]) == {"p50", "p95", "p99"} and set(stats["model_ms"]) == {"p50", "p99"}
    assert stats["resolution"] == [640, 360] and stats["backend"].startswith("onnxruntime")


def test_run_without_display_says_headless(tmp_path):
    """With no display and no camera, `laterna run` says it runs headless on the built-in source."""
    proc = _laterna("run", "--frames", "3", "--no-server")
    assert proc.returncode == 0, proc.stderr
    assert "running headless" in proc.stderr
    if not any(Path("/dev").glob("video*")):
        assert "built-in animated source" in proc.stderr


@pytest.mark.parametrize(
    "text,key",
    [
        ("display: {fit: stretch}\n", "display.fit"),
        ("source: {type: video}\n", "source.path"),
        ("model: {sessions: 0}\n", "model.sessions"),
        ("hours: {schedule: {mon: '9-5'}}\n", "hours.schedule"),
        ("server: {port: -1}\n", "server.port"),
    ],
)
def test_check_exits_78_naming_the_key(tmp_path, text, key):
    """`laterna check` on a broken config exits 78 (EX_CONFIG) and names the wrong key."""
    bad = tmp_path / "kiosk.yaml"
    bad.write_text(text)
    proc = _laterna("check", str(bad))
    assert proc.returncode == 78 and key in proc.stderr and "kiosk.yaml" in proc.stderr


def test_bad_config_exits_78_before_opening_anything(tmp_path):
    """A broken config makes `laterna run` and `laterna check` exit 78 naming the key."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("display: {fit: stretch}\n")
    for cmd in ("run", "check"):
        proc = _laterna(cmd, str(bad))
        assert proc.returncode == 78
        assert "display.fit" in proc.stderr
    assert _laterna("check").returncode == 0
