import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ExportError
from engine.manifest import Manifest, TensorSpec, load_manifest
from exporters.staging import OverwriteError, StagedOutputs

ROOT = Path(__file__).resolve().parents[2]


def test_existing_outputs_are_refused_before_any_work(tmp_path):
    """StagedOutputs refuses on construction, naming every existing file and --force, and makes no folder."""
    (tmp_path / "m.onnx").write_bytes(b"shipped")
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(OverwriteError) as err:
        StagedOutputs(tmp_path, ["m.onnx", "m.pt", "m.json"])
    assert "m.onnx" in str(err.value) and "m.json" in str(err.value) and "--force" in str(err.value)
    assert "m.pt" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.onnx"]


def test_a_failed_command_leaves_the_folder_as_it_was(tmp_path):
    """With force, a command that fails half way changes nothing in the folder and leaves no staging folder."""
    (tmp_path / "m.onnx").write_bytes(b"shipped")
    with pytest.raises(ExportError), StagedOutputs(tmp_path, ["m.onnx", "m.json"], force=True) as stage:
        (stage / "m.onnx").write_bytes(b"new")
        raise ExportError("parity failed")
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"] and (tmp_path / "m.onnx").read_bytes() == b"shipped"


def test_a_finished_command_moves_every_named_file_into_place(tmp_path):
    """On success the named files replace the old ones (with force) and the staging folder is gone."""
    (tmp_path / "m.onnx").write_bytes(b"old")
    with StagedOutputs(tmp_path / ".", ["m.onnx", "m.json"], force=True) as stage:
        (stage / "m.onnx").write_bytes(b"new")
        (stage / "m.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.onnx"]
    assert (tmp_path / "m.onnx").read_bytes() == b"new"


CHILD = """
import resource, signal, sys
from engine.manifest import load_manifest
m = load_manifest(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))  # a disk that fills after 512 bytes
try:
    m.save()
except OSError as exc:
    print("failed", exc.errno)
"""


def test_a_full_disk_never_leaves_half_a_manifest(tmp_path):
    """Manifest.save writes a temporary file and renames it: when the disk fills, the old manifest is intact."""
    path = tmp_path / "m.json"
    big = Manifest(
        "m",
        "m.onnx",
        inputs=(TensorSpec("image", (1, 3, 8, 8)),),
        outputs=(TensorSpec("out", (1, 3, 8, 8)),),
        extra={"training": {"notes": "x" * 4000}},
        path=path,
    )
    big.save()
    before = path.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.stdout.startswith("failed"), proc.stderr
    assert path.read_bytes() == before and json.loads(before)["training"]["notes"] == "x" * 4000
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left behind
    assert load_manifest(path).name == "m"


def test_a_saved_manifest_is_readable_by_the_show_user(tmp_path):
    """Manifest.save leaves a new manifest world-readable (0644), and keeps an existing manifest's mode."""
    import stat

    path = tmp_path / "m.json"
    manifest = Manifest(
        "m",
        "m.onnx",
        inputs=(TensorSpec("image", (1, 3, 8, 8)),),
        outputs=(TensorSpec("out", (1, 3, 8, 8)),),
        path=path,
    )
    manifest.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)
    manifest.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
