"""``laterna bench --tables triton``: remote inference on a Triton server beside local ONNX Runtime, in one run.

The model is exported as a Triton repository into a temporary folder and served by a real
``tritonserver`` (PyTriton's, CPU only, from ``.venv-triton``) on loopback. Rows:

- round trip of one 640x360 frame through the ``triton`` backend (gRPC, the picture as uint8 -- the
  default -- or float32 both ways, the server's ONNX Runtime) against the same frame through a local
  ONNX Runtime session;
- frames per second of 1 and 3 render "nodes" (threads, each with its own backend, as separate
  machines would have) sharing the one server, against the same number of nodes each running the
  model locally; and how many frames the server's dynamic batcher put in one pass on average.

On this machine server and nodes share two CPU cores, so the sharing rows measure what batching and
the protocol cost, not what a GPU server in the back room would give (docs/triton.md).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends.base import Backend, BackendOptions, TritonTarget
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.backends.triton import TritonBackend
from engine.manifest import Manifest
from engine.style import StyleMix
from exporters.triton_repo import TritonRepoOptions, write_triton_repository
from installation.bench.pytriton import PyTritonServer, unavailable_reason
from installation.bench.timing import table, time_calls

SIZE = (640, 360)


@dataclass
class NodesResult:
    fps_total: float
    fps_per_node: list[float]
    frames_per_pass: float | None = None  # server side: inferences / executions during the run


def nodes_fps(make_backend: Callable[[], Backend], nodes: int, seconds: float, manifest: Manifest) -> NodesResult:
    """``nodes`` threads, each with its own backend, stylising 640x360 frames back to back for ``seconds``."""
    w, h = SIZE
    backends = [make_backend().load() for _ in range(nodes)]
    img = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    style = StyleMix.single(len(manifest.styles), 0).as_array()
    for b in backends:
        b.infer(img, style)  # warm-up: connection, first pass
    counts = [0] * nodes
    start = threading.Barrier(nodes + 1)
    t_end = 0.0

    def node(i: int) -> None:
        start.wait()
        while time.perf_counter() < t_end:
            backends[i].infer(img, style)
            counts[i] += 1

    threads = [threading.Thread(target=node, args=(i,)) for i in range(nodes)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    t_end = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for b in backends:
        b.close()
    return NodesResult(sum(counts) / elapsed, [c / elapsed for c in counts])


def interleaved(fns: list[Callable[[], Any]], budget_s: float, max_runs: int) -> list[float]:
    """Median ms per call of each of ``fns``, called in turn (A, B, C, A, B, C ...) after one warm-up call
    each, so that a machine others keep busy slows them all alike."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    t_end = time.perf_counter() + budget_s
    while len(times[0]) < max_runs and (not times[0] or time.perf_counter() < t_end):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1000.0)
    return [statistics.median(ts) for ts in times]


def _server_counts(server: PyTritonServer, model: str) -> tuple[int, int]:
    """(inferences, executions) the server has done for ``model``: their ratio is frames per pass."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url=server.url)
    try:
        stats: dict[str, Any] = client.get_inference_statistics(
            model, headers=server.headers, as_json=True, client_timeout=5.0
        )
    finally:
        client.close()
    entry = stats.get("model_stats", [{}])[0]
    return int(entry.get("inference_count", 0)), int(entry.get("execution_count", 0))


def triton_table(manifest: Manifest, seconds: float = 6.0, quick: bool = False) -> str:
    """The Triton rows, side by side with local ONNX Runtime (see the module's docstring)."""
    reason = unavailable_reason()
    if reason:
        return f"Triton: skipped, {reason}"
    cpus = os.cpu_count() or 1
    seconds = min(seconds, 2.0) if quick else seconds
    work = Path(tempfile.mkdtemp(prefix="laterna-bench-triton-"))
    try:
        repo_opts = TritonRepoOptions(instances=1, kind="KIND_CPU")
        f32 = f"{manifest.name}_f32"
        write_triton_repository(manifest, work / "repo", repo_opts)
        write_triton_repository(manifest, work / "repo", dataclasses.replace(repo_opts, wire="float32"), name=f32)
        with PyTritonServer(work / "repo", threads=cpus) as server:
            remote_opts = BackendOptions(triton=TritonTarget(url=server.url, model=manifest.name, timeout_s=30.0))
            local_opts = BackendOptions(threads=1, sessions=1)
            w, h = SIZE
            img = np.random.default_rng(0).integers(0, 256, (1, 3, h, w)).astype(np.float32) / np.float32(255)
            style = StyleMix.single(len(manifest.styles), 0).as_array()
            runs = 10 if quick else 40
            f32_opts = dataclasses.replace(remote_opts, triton=dataclasses.replace(remote_opts.triton, model=f32))
            with (
                OnnxRuntimeBackend(manifest, BackendOptions(threads=cpus)) as local,
                TritonBackend(manifest, remote_opts) as remote_u8,
                TritonBackend(manifest, f32_opts) as remote_f32,
            ):
                t_local, t_u8, t_f32 = interleaved(
                    [partial(b.infer, img, style) for b in (local, remote_u8, remote_f32)], 3 * seconds, runs
                )
            rows = []
            for wire, t_remote, mb in (("uint8", t_u8, img.nbytes / 4e6), ("float32", t_f32, img.nbytes / 1e6)):
                rows.append(
                    [
                        f"1 frame round trip, {wire} wire, ms (median)",
                        f"{t_remote:.1f}",
                        f"{t_local:.1f}",
                        f"{t_remote / t_local:.2f}x",
                        f"{mb:.2f} MB each way; {cpus}-thread server instance vs {cpus}-thread local session",
                    ]
                )
            for nodes in (1, 3):
                before = _server_counts(server, manifest.name)
                shared = nodes_fps(partial(TritonBackend, manifest, remote_opts), nodes, seconds, manifest)
                after = _server_counts(server, manifest.name)
                done = (after[0] - before[0], after[1] - before[1])
                per_pass = done[0] / done[1] if done[1] else float("nan")
                alone = nodes_fps(partial(OnnxRuntimeBackend, manifest, local_opts), nodes, seconds, manifest)
                rows.append(
                    [
                        f"{nodes} node{'s' if nodes > 1 else ''}, frames/s in all",
                        f"{shared.fps_total:.1f}",
                        f"{alone.fps_total:.1f}",
                        f"{shared.fps_total / alone.fps_total:.2f}x",
                        f"per node {', '.join(f'{f:.1f}' for f in shared.fps_per_node)} shared vs "
                        f"{', '.join(f'{f:.1f}' for f in alone.fps_per_node)} local; "
                        f"{per_pass:.2f} frames per server pass (uint8 wire)",
                    ]
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return table(
        f"Triton (PyTriton's tritonserver, CPU, loopback gRPC) vs local ONNX Runtime, {manifest.name} at "
        f"{w}x{h}, {cpus} CPU threads shared by server and nodes",
        ["measure", "via Triton", "local ORT", "Triton / local", "notes"],
        rows,
    )


# -- on a GPU machine (tools/gpu_check.sh) -------------------------------------------------------------
TRITONSERVER_PLACES = ("/opt/tritonserver/bin/tritonserver",)  # where NVIDIA's containers and packages put it


def find_tritonserver() -> tuple[Path | None, str]:
    """A full ``tritonserver`` with the TensorRT backend (``TRITONSERVER`` env, PATH, /opt/tritonserver),
    or None and why not. PyTriton's bundled binary has only the Python backend, so it does not count."""
    candidates = [os.environ.get("TRITONSERVER", ""), shutil.which("tritonserver") or "", *TRITONSERVER_PLACES]
    for c in (Path(p) for p in candidates if p):
        if c.is_file() and (c.parent.parent / "backends" / "tensorrt").is_dir():
            return c, ""
    return None, "no tritonserver with the TensorRT backend (set TRITONSERVER, or install NVIDIA's Triton release)"


def gpu_triton_check(model: str | Path = "models/lantern.json", size: tuple[int, int] = (1280, 720)) -> str:
    """Serve the model's TensorRT plan from a real ``tritonserver`` on this GPU machine and compare one
    frame with local ONNX Runtime: build the engine, export the repository, start the server, time it."""
    import subprocess

    from engine.manifest import load_manifest
    from exporters.tensorrt_build import build_engine, tensorrt_available
    from installation.bench.pytriton import free_port

    server, why = find_tritonserver()
    if server is None:
        return f"Triton on GPU: skipped, {why}"
    if not tensorrt_available():
        return "Triton on GPU: skipped, the tensorrt Python package is not installed (pip install '.[gpu]')"
    try:
        import tritonclient.grpc  # noqa: F401
    except ImportError:
        return "Triton on GPU: skipped, tritonclient is not installed (pip install '.[triton]')"
    manifest = load_manifest(model)
    work = Path(tempfile.mkdtemp(prefix="laterna-gpu-triton-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for f in manifest.model_path.parent.glob(f"{manifest.model_path.stem}.*"):
            if f.suffix in (".onnx", ".json"):
                shutil.copy(f, work / f.name)
        local_manifest = load_manifest(work / manifest.path.name) if manifest.path else manifest
        n = len(local_manifest.styles) if local_manifest.style_input else 0
        engine = build_engine(local_manifest.model_path, work / "model.engine", n, fp16=True)
        local_manifest.extra.setdefault("variants", {})["tensorrt"] = {"file": engine.name}
        local_manifest.save()
        write_triton_repository(local_manifest, work / "repo", TritonRepoOptions(kind="KIND_GPU"))
        ports = (free_port(), free_port(), free_port())
        cmd = [str(server), f"--model-repository={work / 'repo'}", f"--grpc-port={ports[0]}"]
        cmd += [f"--http-port={ports[1]}", f"--metrics-port={ports[2]}", "--exit-on-error=true"]
        with open(work / "server.log", "wb") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"127.0.0.1:{ports[0]}"
        trt_name = f"{local_manifest.name}_trt"
        opts = BackendOptions(triton=TritonTarget(url=url, model=trt_name, timeout_s=30.0, connect_timeout_s=5.0))
        deadline = time.monotonic() + 180
        remote: TritonBackend | None = None
        while remote is None:
            try:
                remote = TritonBackend(local_manifest, opts).load()
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (work / "server.log").read_text(errors="replace")[-3000:]
                    return f"Triton on GPU: tritonserver did not serve {trt_name}:\n{log}"
                time.sleep(1.0)
        w, h = size
        img = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        style = StyleMix.single(n, 0).as_array() if n else None
        with remote, OnnxRuntimeBackend(local_manifest) as local:
            diff = float(np.abs(remote.infer(img, style) - local.infer(img, style)).max())
            t_remote = statistics.median(time_calls(partial(remote.infer, img, style), 5.0, 50))
        return table(
            f"Triton on GPU: {trt_name} (TensorRT fp16 plan) served by {server}",
            ["size", "round trip ms (median)", "max |diff| vs ORT CPU fp32"],
            [[f"{w}x{h}", f"{t_remote:.1f}", f"{diff:.4f}"]],
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
