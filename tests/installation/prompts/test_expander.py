import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.errors import ConfigError
from installation.prompts.expander import HttpExpander, OfflineExpander, TransformersExpander


@pytest.fixture(scope="module")
def offline(embedder):
    return OfflineExpander(embedder)


def test_offline_expansions_fit_the_prompt(offline):
    """The offline expander adds the closest mood/palette/light/movement phrases to the visitor's words."""
    out = offline.expand("stormy sea", 3)
    assert len(out) == 3 and all(x.startswith("stormy sea, ") for x in out)
    assert any("storm" in x.split(", ", 1)[1] or "sea" in x.split(", ", 1)[1] for x in out)


class _Handler(BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        answer = "1. " + body["messages"][1]["content"] + " under violet storm light\n2. thick swirling paint"
        data = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:  # the client gave up (the timeout test): expected
            pass

    def log_message(self, *args):
        pass


@pytest.fixture()
def llm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_http_expander_uses_an_openai_compatible_server(llm_server, offline):
    """A local OpenAI-compatible endpoint's answer is split into clean expansion lines."""
    _Handler.delay = 0.0
    x = HttpExpander(f"http://127.0.0.1:{llm_server.server_port}", "local", offline, timeout_s=2.0)
    assert x.expand("a lighthouse", 2) == ["a lighthouse under violet storm light", "thick swirling paint"]


def test_http_expander_falls_back_on_timeout_and_errors(llm_server, offline):
    """A slow or unreachable endpoint falls back to the offline expander within the timeout."""
    _Handler.delay = 1.0
    x = HttpExpander(f"http://127.0.0.1:{llm_server.server_port}", "local", offline, timeout_s=0.2)
    t0 = time.monotonic()
    out = x.expand("a lighthouse", 2)
    assert time.monotonic() - t0 < 0.9 and out == offline.expand("a lighthouse", 2)
    dead = HttpExpander("http://127.0.0.1:9", "local", offline, timeout_s=0.5)
    assert dead.expand("a lighthouse", 1) == offline.expand("a lighthouse", 1)


def test_transformers_expander_needs_a_model_folder(tmp_path, offline):
    """A missing local model folder is a clear ConfigError, never a download."""
    with pytest.raises(ConfigError, match="no config.json"):
        TransformersExpander(tmp_path, offline)
