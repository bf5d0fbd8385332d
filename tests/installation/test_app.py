import json
import signal
import threading
import time
import urllib.request

import numpy as np
import pytest

from installation.app import Installation, qr_image
from installation.config.schema import config_from_dict


def wait_for(condition, seconds: float = 30.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def _show_data(tiny_model, **sections):
    """A tiny real show's config as YAML data: the built-in source, the tiny model, a headless sink, a
    server on a free loopback port; ``sections`` replace whole sections."""
    return {
        "source": {"type": "pattern", "width": 96, "height": 54},
        "model": {"manifest": str(tiny_model.path), "sessions": 1},
        "pipeline": {"width": 96, "height": 54, "workers": 1},
        "style": {"start": {"moss": 1.0}},
        "display": {"type": "headless", "width": 96, "height": 54},
        "server": {"port": 0, "host": "127.0.0.1", "join_hint": False},
        **sections,
    }


def _config(tiny_model, **extra):
    return config_from_dict(
        _show_data(
            tiny_model,
            **{
                "style": {"start": {"moss": 1.0}, "transition_s": 0.3},
                "director": {"min_show_s": 0},
                "attract": {"enabled": False},
                **extra,
            },
        ),
        "test.yaml",
    )


def test_a_visitors_prompt_changes_the_running_show(tiny_model):
    """A real show with its server: a websocket prompt is queued, shown, and the engine's mix follows it."""
    from websockets.sync.client import connect

    inst = Installation(_config(tiny_model), headless=True)
    seen: list[dict] = []
    status: dict = {}

    def visitor():
        wait_for(lambda: inst.server_thread is not None and inst.director.ready, 90)
        try:
            with connect(f"ws://127.0.0.1:{inst.port}/ws") as ws:
                ws.send(json.dumps({"type": "prompt", "text": "ink"}))
                while not any(m["type"] == "showing" for m in seen):
                    seen.append(json.loads(ws.recv(timeout=30)))
            wait_for(lambda: inst.show.loop.stats.snapshot()["mix"].get("ink", 0.0) > 0.5)  # the 0.3 s glide
            with urllib.request.urlopen(f"http://127.0.0.1:{inst.port}/status", timeout=10) as resp:
                status.update(json.loads(resp.read()))
        finally:
            inst.stop()

    t = threading.Thread(target=visitor)
    t.start()
    stats = inst.run(seconds=120)
    t.join()
    assert [m["type"] for m in seen][-1] == "showing" and seen[-1]["text"] == "ink"
    assert stats["mix"]["ink"] > 0.5 > stats["mix"]["moss"]
    assert status["prompt"] == "ink" and status["fps"] > 0


def test_qr_code_image():
    """The join hint's QR code is a black-and-white RGB picture with a white quiet zone."""
    img = qr_image("http://192.0.2.2:8765/")
    assert img.ndim == 3 and img.shape[0] == img.shape[1] and img.dtype.name == "uint8"
    assert set(map(int, img.reshape(-1))) == {0, 255} and img[:8].min() == 255


def test_hot_reload_in_a_running_show(tiny_model, tmp_path, monkeypatch):
    """Editing the config while the show runs changes pacing and moderation, and a phrase the operator blocked
    from the panel before stays blocked; a broken edit changes nothing."""
    import os

    import yaml
    from websockets.sync.client import connect

    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", "reload-test-token-0123456789")

    from installation.config.schema import load_config

    path = tmp_path / "show.yaml"
    data = _show_data(tiny_model, director={"min_show_s": 20})
    path.write_text(yaml.safe_dump(data))
    inst = Installation(load_config(path), headless=True)
    inst.reloader.every_s = 0.05
    observed = {}

    def edit(new_data):
        """Replace the file in one step (a half-written file is refused on its own, which is not this test's)."""
        st = os.stat(path)
        part = path.with_suffix(".part")
        part.write_text(yaml.safe_dump(new_data))
        os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        os.replace(part, path)

    def operator():
        try:
            wait_for(lambda: inst.server_thread is not None and inst.show.loop.stats.frames > 0)
            url = f"ws://127.0.0.1:{inst.port}/operator/ws?token=reload-test-token-0123456789"
            with connect(url, open_timeout=10) as ws:
                ws.send(json.dumps({"cmd": "block", "phrase": "heron"}))
                reply: dict = {}
                while reply.get("type") != "result":
                    message = ws.recv(timeout=10)  # previews come as binary frames between the replies
                    reply = json.loads(message) if isinstance(message, str) else {}
            observed["panel_block"] = reply.get("ok")
            edit({**data, "director": {"min_show_s": 5, "newcomer_burst": 3}, "moderation": {"block": ["lanterns"]}})
            wait_for(
                lambda: (
                    inst.director.settings.min_show_s == 5
                    and not inst.director.moderator.check("many lanterns").allowed
                )
            )
            observed["min_show_s"] = inst.director.settings.min_show_s
            observed["newcomer_burst"] = inst.director.queue.newcomer_burst
            observed["blocked"] = not inst.director.moderator.check("many lanterns").allowed
            observed["panel_kept"] = not inst.director.moderator.check("a grey heron").allowed
            edit({**data, "director": {"min_show_s": "soon"}})
            wait_for(lambda: inst.reloader.last is not None and bool(inst.reloader.last.error))
            observed["after_bad"] = inst.director.settings.min_show_s
            observed["error"] = inst.reloader.last.error
        finally:
            inst.stop()

    t = threading.Thread(target=operator)
    t.start()
    inst.run(seconds=60)
    t.join()
    assert observed["min_show_s"] == 5 and observed["blocked"] and observed["newcomer_burst"] == 3
    assert observed["panel_block"] and observed["panel_kept"]
    assert observed["after_bad"] == 5 and "director.min_show_s" in observed["error"]


def test_operator_health_and_metrics_in_a_running_show(tiny_model, monkeypatch):
    """The running show serves the token-protected operator state, /healthz and live /metrics on its port."""
    import urllib.error

    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", "s3cret-token")
    inst = Installation(_config(tiny_model), headless=True)
    got = {}

    def get(path, token=None):
        req = urllib.request.Request(f"http://127.0.0.1:{inst.port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def operator():
        try:
            wait_for(lambda: inst.server_thread is not None and inst.show.loop.stats.frames > 0, 60)
            got["state"] = get("/operator/state", "s3cret-token")
            got["no_token"] = get("/operator/state")[0]
            got["wrong"] = get("/operator/state", "guess")[0]
            got["health"] = get("/healthz")
            got["metrics"] = get("/metrics")
            inst.control.apply({"cmd": "pin", "style": "ink"})
            got["pinned"] = inst.director.is_pinned()
        finally:
            inst.stop()

    t = threading.Thread(target=operator)
    t.start()
    inst.run(seconds=60)
    t.join()
    status, body = got["state"]
    assert status == 200 and json.loads(body)["stats"]["frames"] > 0
    assert (got["no_token"], got["wrong"]) == (401, 403)
    assert got["health"][0] == 200 and got["metrics"][0] == 200
    assert b"laterna_fps" in got["metrics"][1] and got["pinned"]


def test_attract_source_generator_wires_the_director_to_the_switch(tiny_model):
    """With attract.source: generator the Director is told to crossfade to the generator when idle; with
    the default the show has no switch and the Director does not ask for one."""
    inst = Installation(_config(tiny_model, attract={"enabled": True, "source": "generator"}), headless=True)
    try:
        assert inst.director.attract_source == "generator"
    finally:
        inst.close()
    plain = Installation(_config(tiny_model), headless=True)
    try:
        assert plain.director.attract_source is None
    finally:
        plain.close()


def test_b_on_the_projector_windows_keyboard_blacks_the_show_out(tiny_model):
    """In a running show with a real (SDL dummy) window and the join hint on, pressing b turns blackout on
    through the operator command path; the wall is then entirely black (no QR code, no text). The join
    hint's caption and the visitors' page title come from the config."""
    import os

    import pygame

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    cfg = _config(
        tiny_model,
        display={"type": "window", "width": 96, "height": 54},
        server={
            "port": 0,
            "host": "127.0.0.1",
            "join_hint": True,
            "join_text": "Malen Sie mit Worten:",
            "join_position": "top-left",
            "page_title": "Lichtspiele",
        },
    )
    inst = Installation(cfg, headless=False)
    window = inst.show.sinks[0]
    seen = {}

    def technician():
        try:
            wait_for(lambda: inst.server_thread is not None and inst.show.loop.stats.frames > 2)
            seen["hint"] = window._overlays["join"].lines[0]
            seen["hint_drawn"] = wait_for(lambda: bool(window.last_presented()[:10, :10].max() == 255))  # the white QR
            with urllib.request.urlopen(f"http://127.0.0.1:{inst.port}/", timeout=10) as resp:
                seen["page"] = resp.read().decode()
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_b, mod=0, unicode="b", scancode=5))
            seen["blackout"] = wait_for(lambda: inst.show.loop.blackout)
            seen["black_wall"] = wait_for(lambda: bool(window.last_presented().max() == 0))
        finally:
            inst.stop()

    t = threading.Thread(target=technician)
    t.start()
    inst.run(seconds=60)
    t.join()
    assert seen["hint"] == "Malen Sie mit Worten:" and seen["hint_drawn"]
    assert "<title>Lichtspiele</title>" in seen["page"]
    assert seen["blackout"] is True and seen["black_wall"] is True


def _run_until(config, stats_out, marker, sig, timeout=240):
    """`laterna run` as a real process; send ``sig`` as soon as ``marker`` appears in its log. Returns
    (exit code, log text, whether the marker was seen)."""
    import os
    import select
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "installation.cli",
            "run",
            str(config),
            "--headless",
            "--stats-out",
            str(stats_out),
            "--port",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    seen = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if not seen and marker in line:
                seen = True
                proc.send_signal(sig)
        proc.stderr.read()
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, "".join(lines), seen


@pytest.mark.slow
@pytest.mark.parametrize(
    "marker, sig",
    [
        ("show 'test'", signal.SIGTERM),  # the show is built, nothing is open yet
        ("visitors: http", signal.SIGTERM),  # the server is up, the sentence model is loading
        ("loaded sentence embeddings", signal.SIGTERM),  # the interpreter is being built (issue 13's crash)
        ("loaded sentence embeddings", signal.SIGINT),  # Ctrl-C at the same moment
        ("prompt interpreter ready", signal.SIGTERM),  # fully up
    ],
)
def test_a_signal_at_any_moment_of_start_up_exits_cleanly_with_stats(tiny_model, tmp_path, marker, sig):
    """SIGTERM or SIGINT at each moment of start-up: the process exits 0 and still writes its stats."""
    import yaml

    config = tmp_path / "show.yaml"
    config.write_text(
        yaml.safe_dump(
            _show_data(
                tiny_model, name="test", server={"host": "127.0.0.1", "join_hint": False}, attract={"enabled": False}
            )
        )
    )
    stats_out = tmp_path / "stats.json"
    code, log_text, seen = _run_until(config, stats_out, marker, sig)
    assert seen, log_text
    assert code == 0, log_text
    assert "Traceback" not in log_text and "terminate called" not in log_text
    stats = json.loads(stats_out.read_text())
    assert "frames" in stats and stats["errors"] == 0, log_text  # a clean stop counts no error


def test_a_streaming_show_serves_mjpeg_counts_its_viewer_and_falls_back_from_xr(tiny_model, monkeypatch, caplog):
    """streams.enabled: the installation serves /stream.mjpg on its port, the panel's state and /metrics count
    the viewer, and join_page xr with no /xr served (streams.xr off) points the join hint at the visitor page
    and says so."""
    import http.client

    monkeypatch.setenv("LATERNA_OPERATOR_TOKEN", "s3cret-token")
    streams = {"enabled": True, "join_page": "xr", "xr": False, "outputs": [{"name": "main", "max_fps": 10.0}]}
    inst = Installation(_config(tiny_model, streams=streams), headless=True)
    got: dict = {}

    def viewer():
        try:
            wait_for(lambda: inst.server_thread is not None and inst.show.loop.stats.frames > 0, 60)
            connection = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
            connection.request("GET", "/stream.mjpg")
            response = connection.getresponse()
            got["type"] = response.getheader("Content-Type")
            got["first"] = response.read(200)
            got["state"] = inst.control.state()["streams"]["viewers"]
            with urllib.request.urlopen(f"http://127.0.0.1:{inst.port}/metrics", timeout=10) as resp:
                got["metrics"] = resp.read().decode()
            got["join"] = inst._join_url("http://10.0.0.5:8765/")
            response.close()
            connection.close()
        finally:
            inst.stop()

    t = threading.Thread(target=viewer)
    t.start()
    inst.run(seconds=60)
    t.join()
    assert got["type"].startswith("multipart/x-mixed-replace") and b"Content-Type: image/jpeg" in got["first"]
    assert [v["kind"] for v in got["state"]] == ["mjpeg"]
    assert 'laterna_stream_viewers{output="main"} 1.0' in got["metrics"]
    assert got["join"] == "http://10.0.0.5:8765/"  # /xr is not served
    assert "serves no /xr page" in caplog.text
    assert inst.show.streams.viewer_count == 0  # closed with the show


def test_a_saved_calibration_reaches_the_running_windows(tiny_model, tmp_path):
    """The show runs in a real (SDL dummy) window; a mesh and gain saved into its file reach the window live."""
    import os

    import yaml

    from installation.config.schema import load_config

    path = tmp_path / "show.yaml"
    data = _show_data(
        tiny_model, display={"type": "window", "width": 96, "height": 54, "vsync": False}, server={"enabled": False}
    )
    path.write_text(yaml.safe_dump(data))
    inst = Installation(load_config(path), server=False)
    inst.reloader.every_s = 0.05
    window = inst.show.sinks[0]
    mesh = [[[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.9, 0.9]]]
    seen = {}

    def technician():
        try:
            wait_for(lambda: inst.show.loop.stats.frames > 0)
            path.write_text(yaml.safe_dump({**data, "display": {**data["display"], "mesh": mesh, "gain": [1, 1, 0.5]}}))
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
            seen["warped"] = wait_for(lambda: window.warping and window.blend is not None)
        finally:
            inst.stop()

    t = threading.Thread(target=technician)
    t.start()
    inst.run(seconds=60)
    t.join()
    assert seen["warped"] and window.blend.gain == (1.0, 1.0, 0.5)
    assert np.allclose(window.mesh[1, 1], (0.9, 0.9))


def test_the_operators_warp_command_moves_the_running_windows_mesh(tiny_model, tmp_path):
    """In a running show with a real (SDL dummy) window, the operator's warp command reaches the window's
    mesh, and warp_save writes it into the show's file with a backup."""
    import os

    import yaml

    from installation.config.schema import load_config

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    path = tmp_path / "show.yaml"
    data = _show_data(
        tiny_model,
        display={"type": "window", "width": 96, "height": 54, "vsync": False},
        attract={"enabled": False},
    )
    path.write_text(yaml.safe_dump(data))
    inst = Installation(load_config(path), headless=False)
    window = inst.show.sinks[0]
    seen = {}

    def operator():
        try:
            wait_for(lambda: inst.server_thread is not None and inst.show.loop.stats.frames > 0)

            async def command(cmd):
                return inst.control.apply(cmd)

            seen["warp"] = inst.server_thread.submit(
                command({"cmd": "warp", "output": 1, "point": 24, "by": [-0.05, -0.05]})
            ).result(10)
            seen["moved"] = wait_for(lambda: window.mesh is not None)
            seen["save"] = inst.server_thread.submit(command({"cmd": "warp_save"})).result(10)
        finally:
            inst.stop()

    t = threading.Thread(target=operator)
    t.start()
    inst.run(seconds=60)
    t.join()
    assert seen["warp"]["ok"] and seen["warp"]["at"] == [0.95, 0.95]
    assert seen["moved"] and np.allclose(window.mesh[4, 4], (0.95, 0.95))
    assert seen["save"]["ok"] and load_config(path).display.mesh[4][4] == (0.95, 0.95)
    assert (tmp_path / "show.yaml.bak").is_file()
