"""`laterna check`: several files, everything `run` refuses, all at once, exit 78."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _laterna(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "installation.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_check_takes_several_files():
    """`laterna check configs/*.yaml` checks every shipped config and says OK for each."""
    configs = sorted(str(p) for p in (ROOT / "configs").glob("*.yaml"))
    proc = _laterna("check", *configs)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stdout.splitlines() if line.endswith(": OK")] == [f"{c}: OK" for c in configs]


def test_check_refuses_what_run_refuses_all_at_once(tmp_path):
    """Unknown style, missing manifest, bad key across two files: all named, exit 78, as `run` refuses."""
    style = tmp_path / "style.yaml"
    style.write_text("source: {type: pattern}\nstyle: {start: {starry_nite: 1.0}}\n")
    model = tmp_path / "model.yaml"
    model.write_text("source: {type: pattern}\nmodel: {manifest: gone.json}\ndisplay: {fit: stretch}\n")
    proc = _laterna("check", str(style), str(model), str(ROOT / "configs" / "default.yaml"))
    assert proc.returncode == 78
    assert f"{style}: style.start: expected" in proc.stderr and "'starry_nite'" in proc.stderr
    assert f"{model}: display.fit: expected" in proc.stderr and f"{model}: model.manifest: expected" in proc.stderr
    assert f"{ROOT / 'configs' / 'default.yaml'}: OK" in proc.stdout
    run = _laterna("run", "--headless", "--frames", "1", "--no-server", str(style))
    assert run.returncode == 78 and "starry_nite" in run.stderr


def test_check_refuses_a_corrupt_model(tmp_path, corrupt_model):
    """A model whose bytes no longer match its manifest's sha256: exit 78 naming model.manifest."""
    cfg = tmp_path / "show.yaml"
    cfg.write_text(f"source: {{type: pattern}}\nmodel: {{manifest: {corrupt_model.name}}}\n")
    proc = _laterna("check", str(cfg))
    assert proc.returncode == 78 and "model.manifest" in proc.stderr and "sha256 does not match" in proc.stderr
