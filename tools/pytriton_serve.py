"""Serve one model of a Laterna Triton model repository through PyTriton, on a machine without a Triton install.

Runs in its own virtual environment (``make triton`` makes ``.venv-triton``: ``nvidia-pytriton`` pins
numpy<2, which Laterna's own environment has outgrown). PyTriton's wheel bundles a real ``tritonserver``
binary, but with the Python backend only: so this program reads the exported ``config.pbtxt`` (inputs,
outputs, dims, max_batch_size, dynamic batching, instance count) and binds a Python model of the same
name and shape whose instances run ``model.onnx`` in ONNX Runtime. Clients cannot tell the difference:
gRPC, the model's metadata and config, dynamic batching and the statistics are Triton's own.

    .venv-triton/bin/python tools/pytriton_serve.py models/triton --model lantern --grpc-port 8001

serves one model (``--model`` again for more; without it, every ONNX model in the repository).

It prints ``READY <grpc-port>`` (and writes it, with the access token of the restricted endpoints, to
``--ready-file``) once the model is loaded, and
stops cleanly on SIGTERM or SIGINT. Imports nothing of Laterna's (a different numpy).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("pytriton_serve")


def read_config(repo: Path, model: str) -> Any:
    """The model's ``config.pbtxt`` as Triton's ``ModelConfig`` protobuf message."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    path = repo / model / "config.pbtxt"
    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def latest_version(repo: Path, model: str) -> tuple[int, Path]:
    """The highest numbered version folder that holds a ``model.onnx``."""
    versions = sorted(
        (int(p.name), p / "model.onnx")
        for p in (repo / model).iterdir()
        if p.is_dir() and p.name.isdigit() and (p / "model.onnx").is_file()
    )
    if not versions:
        raise SystemExit(f"{repo / model}: no version folder with a model.onnx")
    return versions[-1]


def carry_parameters(parameters: dict[str, dict[str, str]]) -> None:
    """Put the exported config's ``parameters`` (the model's sha256, its style names) into the config that
    PyTriton writes for its Python model, so clients read them from the server as from a real deployment."""
    from pytriton.models import model as pytriton_model

    generate = pytriton_model.Model._get_triton_model_config

    def with_parameters(self):
        config = generate(self)
        config.backend_parameters.update(parameters.get(self.model_name, {}))
        return config

    pytriton_model.Model._get_triton_model_config = with_parameters


def make_infer(model_file: Path, output_names: list[str], threads: int) -> Callable[[list[Any]], list[Any]]:
    """One model instance: an ONNX Runtime session, and the function PyTriton calls with a list of requests.

    Requests whose images have the same size are run as one batch (that is what the dynamic batcher
    gathered); each request gets its own slice of the result back."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    session = ort.InferenceSession(str(model_file), so, providers=["CPUExecutionProvider"])

    def infer(requests: list[Any]) -> list[Any]:
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, req in enumerate(requests):
            key = tuple((name, req[name].shape[1:]) for name in sorted(req.keys()))
            groups.setdefault(key, []).append(i)
        responses: list[dict[str, Any] | None] = [None] * len(requests)
        for members in groups.values():
            names = list(requests[members[0]].keys())
            feed = {n: np.concatenate([requests[i][n] for i in members]) for n in names}
            outs = session.run(output_names, feed)
            start = 0
            for i in members:
                n = requests[i][names[0]].shape[0]
                responses[i] = {name: out[start : start + n] for name, out in zip(output_names, outs)}
                start += n
        return responses

    return infer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("repository", type=Path, help="the model repository `laterna export-triton` wrote")
    p.add_argument(
        "--model", action="append", default=None, help="a model's folder name in the repository (repeat; default: all)"
    )
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--address", default="127.0.0.1", help="address to bind (0.0.0.0 to serve other machines)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model instance")
    p.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="write READY <grpc-port> <access-token> here (mode 0600) when serving; the token opens the "
        "statistics endpoint, which PyTriton restricts",
    )
    p.add_argument("--workspace", type=Path, default=None, help="PyTriton's working folder (default: a new one)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    # The Python backend's stub links libpython3.X.so: let it find this interpreter's (pyenv, uv, conda).
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH", "")) if p)

    import numpy as np
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    types = {"TYPE_FP32": np.float32, "TYPE_FP16": np.float16, "TYPE_UINT8": np.uint8, "TYPE_INT64": np.int64}
    from tritonclient.grpc import model_config_pb2

    def tensors(items):
        return [
            Tensor(name=t.name, dtype=types[model_config_pb2.DataType.Name(t.data_type)], shape=tuple(t.dims))
            for t in items
        ]

    names = args.model or sorted(
        p.name for p in args.repository.iterdir() if (p / "config.pbtxt").is_file() and any(p.glob("*/model.onnx"))
    )
    if not names:
        raise SystemExit(f"{args.repository}: no model with a config.pbtxt and a model.onnx")
    bindings = []
    for name in names:
        config = read_config(args.repository, name)
        if config.platform not in ("onnxruntime_onnx", "") and config.backend not in ("onnxruntime", ""):
            raise SystemExit(f"{name}: platform {config.platform or config.backend!r} cannot run here (ONNX only)")
        version, model_file = latest_version(args.repository, name)
        instances = sum(g.count or 1 for g in config.instance_group) or 1
        outputs = [t.name for t in config.output]
        funcs = [make_infer(model_file, outputs, args.threads) for _ in range(instances)]
        batching = config.max_batch_size > 0
        model_config = ModelConfig(
            batching=batching,
            max_batch_size=config.max_batch_size if batching else 0,
            batcher=DynamicBatcher(
                max_queue_delay_microseconds=config.dynamic_batching.max_queue_delay_microseconds,
                preferred_batch_size=list(config.dynamic_batching.preferred_batch_size) or None,
            ),
        )
        bindings.append((config, version, model_file, funcs, model_config))
    carry_parameters({c.name: {k: v.string_value for k, v in c.parameters.items()} for c, *_ in bindings})
    triton_config = TritonConfig(
        grpc_port=args.grpc_port,
        grpc_address=args.address,
        http_port=args.http_port,
        http_address=args.address,
        metrics_port=args.metrics_port,
        allow_metrics=False,
        exit_on_error=True,
    )
    stop = []
    with Triton(config=triton_config, workspace=args.workspace) as triton:
        for config, version, model_file, funcs, model_config in bindings:
            triton.bind(
                model_name=config.name,
                model_version=version,
                infer_func=funcs if len(funcs) > 1 else funcs[0],
                inputs=tensors(config.input),
                outputs=tensors(config.output),
                config=model_config,
                strict=False,
            )
            log.info(
                "serving %s v%d (%s, max_batch_size %d, %d instance(s)) on %s:%d",
                config.name,
                version,
                model_file,
                config.max_batch_size,
                len(funcs),
                args.address,
                args.grpc_port,
            )

        def on_signal(signum, _frame):
            stop.append(signum)
            triton.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        print(f"READY {args.grpc_port}", flush=True)
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"READY {args.grpc_port} {triton.get_access_token() or ''}\n")
            os.replace(tmp, args.ready_file)
        triton.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
