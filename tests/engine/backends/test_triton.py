"""The triton backend against a real Triton Inference Server (PyTriton's bundled tritonserver, CPU only)."""

import dataclasses
import shutil
import socket
import threading
import time

import numpy as np
import pytest

from engine.backends.base import BackendOptions, TritonTarget
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.errors import BackendError
from engine.frame import Frame
from engine.manifest import file_sha256, load_manifest
from engine.pipeline import Stylizer
from engine.style import StyleMix
from installation.bench.pytriton import PyTritonServer, free_port, unavailable_reason

pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed (pip install 'laterna[triton]')")
NO_SERVER = unavailable_reason()
needs_server = pytest.mark.skipif(NO_SERVER is not None, reason=f"no local Triton server: {NO_SERVER}")
STYLES = np.array([[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]], np.float32)


def target(url: str, model: str = "tiny", **kw) -> BackendOptions:
    return BackendOptions(triton=TritonTarget(url=url, model=model, **kw))


def image(batch: int = 1, h: int = 36, w: int = 64, seed: int = 0) -> np.ndarray:
    """A random picture as the show's pipeline makes them: uint8 levels, as float32 in [0, 1]."""
    levels = np.random.default_rng(seed).integers(0, 256, (batch, 3, h, w))
    return (levels / np.float32(255)).astype(np.float32)


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    """The tiny model exported as a Triton repository (as ``tiny`` with the uint8 wire, the default, and as
    ``tiny_f32`` with float32) and served by a real tritonserver on loopback."""
    from exporters.triton_repo import TritonRepoOptions, write_triton_repository

    repo = tmp_path_factory.mktemp("triton") / "repo"
    write_triton_repository(tiny_model, repo)
    write_triton_repository(tiny_model, repo, TritonRepoOptions(wire="float32"), name="tiny_f32")
    with PyTritonServer(repo) as srv:
        yield srv


def test_load_needs_a_url(tiny_model):
    """A triton backend without model.triton.url refuses to load and says which key to set."""
    from engine.backends.triton import TritonBackend

    with pytest.raises(BackendError, match="model.triton.url"):
        TritonBackend(tiny_model).load()


def test_load_fails_clearly_when_nothing_listens(tiny_model):
    """With no server at the address, load raises BackendError naming the server and gRPC's UNAVAILABLE."""
    from engine.backends.triton import TritonBackend

    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(BackendError, match="unreachable.*UNAVAILABLE") as err:
        TritonBackend(tiny_model, target(url, connect_timeout_s=2.0)).load()
    assert url in str(err.value)


def test_a_server_that_never_answers_costs_one_deadline(tiny_model):
    """A server that accepts the connection but never answers ends in DEADLINE_EXCEEDED, not a hang."""
    from engine.backends.triton import TritonBackend

    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)  # the kernel accepts; nobody ever speaks HTTP/2
        url = f"127.0.0.1:{mute.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(BackendError, match="DEADLINE_EXCEEDED|UNAVAILABLE"):
            TritonBackend(tiny_model, target(url, connect_timeout_s=0.5)).load()
        assert time.monotonic() - t0 < 30  # a guard against a hang, not a speed test


def test_the_show_falls_back_when_the_server_is_unreachable_at_start(tiny_model):
    """A Stylizer whose first backend is an unreachable Triton server styles with the next one in order."""
    from engine.backends.triton import TritonBackend

    options = target(f"127.0.0.1:{free_port()}", connect_timeout_s=1.0)
    stylizer = Stylizer([lambda: TritonBackend(tiny_model, options), lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
    try:
        assert stylizer.backend_name.startswith("onnxruntime") and "unreachable" in (stylizer.load_error or "")
        assert stylizer.process(Frame(np.zeros((36, 64, 3), np.uint8)), StyleMix.single(3, 0)).styled
    finally:
        stylizer.close()


@needs_server
@pytest.mark.parametrize("model,wire,atol", [("tiny_f32", "FP32", 1e-5), ("tiny", "UINT8", 0.5 / 255 + 1e-5)])
def test_frames_through_triton_equal_the_local_result(tiny_model, server, model, wire, atol):
    """Single frames and a batch of two with different styles come back as local ONNX Runtime computes them:
    exactly over the float32 wire, to the nearest of 256 levels (what the screen shows) over the uint8 wire."""
    from engine.backends.triton import TritonBackend

    with TritonBackend(tiny_model, target(server.url, model)) as remote, OnnxRuntimeBackend(tiny_model) as local:
        assert remote.max_batch_size == 8 and remote.wire == wire
        assert remote.describe() == f"triton[{server.url}/{model}]"
        one = image()
        np.testing.assert_allclose(remote.infer(one, STYLES[:1]), local.infer(one, STYLES[:1]), atol=atol)
        two = image(batch=2, seed=1)
        got = remote.infer(two, STYLES)
        assert got.shape == (2, 3, 36, 64) and got.dtype == np.float32
        np.testing.assert_allclose(got, local.infer(two, STYLES), atol=atol)
        assert not np.allclose(got[0], got[1], atol=1e-2)  # each frame kept its own style


@needs_server
def test_the_uint8_wire_shows_the_same_pixels_as_local_inference(tiny_model, server):
    """Through the whole Stylizer, frames over the uint8 wire differ from local ones by at most one level."""
    from engine.backends.triton import TritonBackend

    frame = Frame(np.random.default_rng(5).integers(0, 255, (36, 64, 3), dtype=np.uint8))
    mix = StyleMix.single(3, 2)
    shown = []
    for make in (lambda: TritonBackend(tiny_model, target(server.url)), lambda: OnnxRuntimeBackend(tiny_model)):
        stylizer = Stylizer([make], (64, 36))
        try:
            result = stylizer.process(frame, mix)
        finally:
            stylizer.close()
        assert result.styled
        shown.append(result.frame.pixels.astype(int))
    assert np.abs(shown[0] - shown[1]).max() <= 1


@needs_server
def test_frames_from_several_nodes_at_once_each_get_their_own_answer(tiny_model, server):
    """Three clients sending at once (the server may batch them together) each get their own frame back."""
    from engine.backends.triton import TritonBackend

    with OnnxRuntimeBackend(tiny_model) as local:
        cases = [(image(seed=10 + i), np.eye(3, dtype=np.float32)[i : i + 1]) for i in range(3)]
        want = [local.infer(img, style) for img, style in cases]
    results: dict[int, list[np.ndarray]] = {i: [] for i in range(3)}
    errors: list[Exception] = []

    def node(i: int) -> None:
        try:
            with TritonBackend(tiny_model, target(server.url, "tiny_f32")) as remote:
                for _ in range(6):
                    results[i].append(remote.infer(*cases[i]))
        except Exception as exc:  # reported below, with the thread's index
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for i in range(3):
        assert len(results[i]) == 6
        for got in results[i]:
            np.testing.assert_allclose(got, want[i], atol=1e-5)


@needs_server
def test_a_server_with_another_model_file_is_refused(tiny_model, server, tmp_path):
    """A node whose manifest describes a different model file than the one served refuses to use the server."""
    from engine.backends.triton import TritonBackend

    for f in tiny_model.model_path.parent.glob("tiny.*"):
        shutil.copy(f, tmp_path / f.name)
    import onnx

    model = onnx.load(str(tmp_path / "tiny.onnx"))
    model.doc_string = "retrained since"
    onnx.save(model, str(tmp_path / "tiny.onnx"))
    manifest = load_manifest(tmp_path / "tiny.json")
    manifest = dataclasses.replace(manifest, sha256=file_sha256(tmp_path / "tiny.onnx"))
    with pytest.raises(BackendError, match="different model file"):
        TritonBackend(manifest, target(server.url)).load()


@needs_server
def test_server_down_mid_show_falls_back_and_the_backend_reconnects(tiny_model, server):
    """Killed mid-show: calls raise BackendError, the show moves to local inference; when the server is back
    on its address the same Triton backend works again without being rebuilt, and the show, retrying in the
    background, moves back to Triton."""
    from engine.backends.triton import TritonBackend

    options = target(server.url, timeout_s=2.0)
    stylizer = Stylizer(
        [lambda: TritonBackend(tiny_model, options), lambda: OnnxRuntimeBackend(tiny_model)],
        (64, 36),
        max_consecutive_errors=3,
        retry_s=0.2,
    )
    frame = Frame(np.random.default_rng(3).integers(0, 255, (36, 64, 3), dtype=np.uint8))
    mix = StyleMix.single(3, 1)
    remote = TritonBackend(tiny_model, options).load()
    try:
        assert stylizer.backend_name.startswith("triton") and stylizer.process(frame, mix).styled
        server.kill()
        with pytest.raises(BackendError, match="inference failed"):
            remote.infer(image(), STYLES[:1])
        results = [stylizer.process(frame, mix) for _ in range(4)]
        assert [r.styled for r in results] == [False, False, False, True]  # 3 failures, then local inference
        assert stylizer.backend_name.startswith("onnxruntime")

        server.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                got = remote.infer(image(), STYLES[:1])
                break
            except BackendError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with OnnxRuntimeBackend(tiny_model) as local:  # over the uint8 wire: to the nearest level
            np.testing.assert_allclose(got, local.infer(image(), STYLES[:1]), atol=0.5 / 255 + 1e-5)
        while not stylizer.backend_name.startswith("triton"):  # every frame styled meanwhile, none waits
            assert stylizer.process(frame, mix).styled
            assert time.monotonic() < deadline, "the show never went back to the Triton server"
        assert stylizer.process(frame, mix).styled and stylizer.backend_name.startswith("triton")
    finally:
        remote.close()
        stylizer.close()
