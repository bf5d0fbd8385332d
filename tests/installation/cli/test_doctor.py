import shutil
import socket

import pytest

from installation.cli.doctor import Check, format_report, run_doctor
from installation.config.schema import DEFAULT_CONFIG
from tests.conftest import ROOT


def by_name(checks):
    return {c.name: c for c in checks}


@pytest.fixture()
def default_copy(tmp_path):
    """A private copy of configs/default.yaml (its model is the default, the shipped one, found from anywhere)."""
    return shutil.copy(DEFAULT_CONFIG, tmp_path / "show.yaml")


def test_default_config_passes_the_config_and_model_checks(default_copy):
    """The shipped default config loads and its model's file matches the manifest's sha256."""
    checks = by_name(run_doctor(default_copy))
    assert checks["config"].ok, checks["config"].detail
    assert checks["model"].ok and "sha256 matches" in checks["model"].detail
    assert {"camera", "display", "gpu", "server port", "embeddings", "frame path"} <= set(checks)
    assert all(c.fix for c in checks.values() if not c.ok)  # every failure says how to fix it


def test_broken_config_is_a_failed_check_with_a_fix(tmp_path):
    """A config with an unknown key and an out-of-range value fails the config check, naming both, with a fix."""
    bad = tmp_path / "show.yaml"
    bad.write_text("pipeline:\n  workers: 99\n  wrokers: 2\n")
    checks = by_name(run_doctor(bad))
    config = checks["config"]
    assert not config.ok
    assert "pipeline.workers" in config.detail and "wrokers" in config.detail
    assert str(bad) in config.fix and "laterna check" in config.fix
    assert "model" not in checks  # not checked against a config that did not load


def test_missing_config_says_where_to_start(tmp_path):
    """A config path that does not exist fails with a fix that names the default config to copy."""
    config = by_name(run_doctor(tmp_path / "nowhere.yaml"))["config"]
    assert not config.ok and "not found" in config.detail and str(DEFAULT_CONFIG) in config.fix


def test_corrupted_model_is_a_failed_check_with_a_fix(tmp_path, corrupt_model):
    """A model file whose bytes no longer match its manifest's sha256 fails the model check, with a fix."""
    cfg = tmp_path / "show.yaml"
    cfg.write_text(DEFAULT_CONFIG.read_text().replace("model:\n", f"model:\n  manifest: {corrupt_model}\n"))
    checks = by_name(run_doctor(cfg))
    assert checks["config"].ok
    model = checks["model"]
    assert not model.ok and "sha256 does not match" in model.detail
    assert "laterna export" in model.fix and str(tmp_path) in model.fix


def test_busy_server_port_is_a_failed_check(tmp_path):
    """When another process listens on server.port, the port check fails and says how to find it."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "show.yaml"
        cfg.write_text(f"server:\n  host: 127.0.0.1\n  port: {port}\n")
        check = by_name(run_doctor(cfg))["server port"]
    assert not check.ok and f":{port}" in check.detail and "ss -ltnp" in check.fix


def test_busy_osc_port_is_a_failed_check(tmp_path):
    """With OSC enabled on a UDP port another process holds, the osc port check fails with a fix."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        cfg = tmp_path / "show.yaml"
        cfg.write_text(f"osc:\n  enabled: true\n  port: {port}\n")
        check = by_name(run_doctor(cfg))["osc port"]
    assert not check.ok and str(port) in check.detail and "osc.port" in check.fix


def test_report_marks_failures_and_their_fixes():
    """format_report prints ok/FAIL per check, the fix under each failure, and a summary."""
    text = format_report(
        [
            Check("config", True, "show.yaml loads"),
            Check("model", False, "lantern.onnx: sha256 does not match", "re-copy the model"),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["ok", "config"]
    assert lines[1].split()[:2] == ["FAIL", "model"]
    assert lines[2].strip() == "fix: re-copy the model"
    assert lines[-1] == "1 of 2 checks passed; 1 to fix"


def test_generator_check_runs_when_the_show_uses_one(tmp_path):
    """attract.source: generator adds a generator check that opens the shipped GAN in ONNX Runtime; a
    corrupt generator file fails it with a fix; a show without a generator has no such check."""
    cfg = tmp_path / "show.yaml"
    cfg.write_text(
        f"model: {{manifest: {ROOT / 'models/lantern.json'}}}\n"
        f"source: {{type: pattern, generator: {ROOT / 'models/generator.json'}}}\n"
        "attract: {source: generator}\n"
    )
    gen = by_name(run_doctor(cfg))["generator"]
    assert gen.ok and "latent 64" in gen.detail
    for f in (ROOT / "models").glob("generator.*"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "generator.onnx").write_bytes(b"not an onnx file")
    cfg.write_text(cfg.read_text().replace(str(ROOT / "models/generator.json"), str(tmp_path / "generator.json")))
    broken = by_name(run_doctor(cfg))["generator"]
    assert not broken.ok and "sha256" in broken.detail and "export-generator" in broken.fix
    cfg.write_text(f"model: {{manifest: {ROOT / 'models/lantern.json'}}}\nsource: {{type: pattern}}\n")
    assert "generator" not in by_name(run_doctor(cfg))


def test_microphone_check_says_how_to_get_sound(tmp_path, monkeypatch):
    """source.audio without sounddevice is a failed microphone check whose fix names the [audio] extra."""
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", None)
    cfg = tmp_path / "show.yaml"
    cfg.write_text(f"model: {{manifest: {ROOT / 'models/lantern.json'}}}\nsource: {{type: pattern, audio: true}}\n")
    mic = by_name(run_doctor(cfg))["microphone"]
    assert not mic.ok and "laterna[audio]" in mic.fix and "without sound" in mic.detail


def test_tls_check_loads_the_certificate(tmp_path):
    """With server.tls_cert/tls_key the doctor loads them: a good pair passes, a broken key fails with a fix."""
    from tests.installation.server.test_prompt_server import _self_signed

    cert, key = _self_signed(tmp_path)
    cfg = tmp_path / "show.yaml"
    cfg.write_text(
        f"model: {{manifest: {ROOT / 'models/lantern.json'}}}\nsource: {{type: pattern}}\n"
        f"server: {{tls_cert: {cert}, tls_key: {key}}}\n"
    )
    assert by_name(run_doctor(cfg))["tls"].ok
    key.write_text("not a key")
    tls = by_name(run_doctor(cfg))["tls"]
    assert not tls.ok and str(key) in tls.detail and "tls_key" in tls.fix


@pytest.mark.parametrize(
    "display,ok,words",
    [
        ("{width: 1920, height: 1080, fullscreen: true}", False, ["1920x1080", "1024x768", "cropped"]),
        ("{width: 640, height: 360}", True, ["640x360", "1024x768"]),
        ("{width: 1024, height: 768, fullscreen: true}", True, ["1024x768 (full screen) fits"]),
        ("{monitor: 3}", False, ["display.monitor is 3", "1 display(s)"]),
    ],
)
def test_display_size_is_compared_with_the_real_screen(tmp_path, monkeypatch, display, ok, words):
    """doctor compares display.width/height/monitor with the screen SDL reports (the dummy driver's 1024x768)."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    cfg = tmp_path / "show.yaml"
    cfg.write_text(f"display: {display}\n")
    check = by_name(run_doctor(cfg))["display size"]
    assert check.ok is ok, check.detail
    assert all(w in check.detail for w in words), check.detail
    if not ok:
        assert "display." in check.fix and "show.yaml" in check.fix


def test_a_headless_show_has_no_display_size_check(tmp_path, monkeypatch):
    """With display.type headless no window opens, so doctor does not compare sizes."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    cfg = tmp_path / "show.yaml"
    cfg.write_text("display: {type: headless}\n")
    assert "display size" not in by_name(run_doctor(cfg))


def test_display_fit_reports_the_cropped_fullscreen_of_the_issue():
    """A 1920x1080 full-screen window on a 1280x720 screen fails with both sizes and a fix; 0 means the desktop."""
    from installation.cli.doctor import display_fit

    bad = display_fit(1920, 1080, 0, True, [(1280, 720)], "show.yaml")
    assert not bad.ok and "1920x1080" in bad.detail and "1280x720" in bad.detail
    assert "display.width: 1280" in bad.fix and "show.yaml" in bad.fix
    assert display_fit(0, 0, 1, True, [(1280, 720), (1920, 1080)]).ok
    assert not display_fit(1920, 1080, 0, False, [(1280, 720), (1920, 1080)]).ok  # a window is cropped too


def test_triton_check_runs_when_the_show_uses_a_triton_server(tmp_path):
    """Backend triton adds a triton check: an unreachable server fails it naming the address, with a fix;
    a show without the triton backend has no such check."""
    pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed (pip install 'laterna[triton]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the socket is closed
    cfg = tmp_path / "show.yaml"
    cfg.write_text(
        f"model: {{manifest: {ROOT / 'models/lantern.json'}, backends: [triton, onnxruntime],"
        f" triton: {{url: '{url}', connect_timeout_s: 1.0}}}}\n"
    )
    check = by_name(run_doctor(cfg))["triton"]
    assert not check.ok and url in check.detail and "unreachable" in check.detail
    assert "docs/triton.md" in check.fix and "model.triton.url" in check.fix
    cfg.write_text(f"model: {{manifest: {ROOT / 'models/lantern.json'}}}\n")
    assert "triton" not in by_name(run_doctor(cfg))


def test_frame_path_says_whether_the_compiled_loop_runs(monkeypatch):
    """The frame-path check passes where engine._frames is built and, where it is not, says how to build it."""
    from engine import convert
    from installation.cli.doctor import check_frame_path

    monkeypatch.setattr(convert, "FUSED", True)
    assert check_frame_path().ok
    monkeypatch.setattr(convert, "FUSED", False)
    missing = check_frame_path()
    assert not missing.ok and "gcc" in missing.fix and "pip install" in missing.fix
