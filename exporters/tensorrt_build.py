"""ONNX -> TensorRT engine (TensorRT 10 Python API), with an fp16 option, an optimisation profile
(min/opt/max image shapes), a timing cache, and an engine file whose header records the TensorRT
version and GPU name. Importable without TensorRT: ``tensorrt`` is imported when a build starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from engine.atomic_file import write_atomic
from engine.backends.engine_file import write_engine_file
from engine.errors import ExportError
from engine.manifest import file_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineProfile:
    """Image shapes (height, width) the engine accepts: it is fastest at ``opt``."""

    min_hw: tuple[int, int] = (180, 320)
    opt_hw: tuple[int, int] = (720, 1280)
    max_hw: tuple[int, int] = (2160, 3840)
    batch: int = 1


def tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def gpu_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return "unknown"


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    n_styles: int,
    fp16: bool = True,
    profile: EngineProfile = EngineProfile(),
    timing_cache: str | Path | None = None,
    workspace_gb: float = 4.0,
) -> Path:
    """Build and write a TensorRT engine for a Laterna style model; returns the engine path."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ExportError("TensorRT is not installed (pip install '.[gpu]' on a CUDA machine)") from exc

    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"{onnx_path}: TensorRT could not parse the model: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    opt_profile = builder.create_optimization_profile()
    b = profile.batch
    opt_profile.set_shape("image", (b, 3, *profile.min_hw), (b, 3, *profile.opt_hw), (b, 3, *profile.max_hw))
    if n_styles:
        opt_profile.set_shape("style", (b, n_styles), (b, n_styles), (b, n_styles))
    config.add_optimization_profile(opt_profile)

    cache_path = Path(timing_cache) if timing_cache else None
    cache_bytes = cache_path.read_bytes() if cache_path and cache_path.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"{onnx_path}: TensorRT engine build failed (see the TensorRT log above)")
    if cache_path:
        write_atomic(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))
    meta = {
        "tensorrt_version": trt.__version__,
        "gpu": gpu_name(),
        "precision": "fp16" if fp16 else "fp32",
        "profile": {"min": list(profile.min_hw), "opt": list(profile.opt_hw), "max": list(profile.max_hw), "batch": b},
        "source_model": onnx_path.name,
        "source_sha256": file_sha256(onnx_path),
    }
    write_engine_file(engine_path, bytes(memoryview(serialized)), meta)
    log.info("built TensorRT engine %s (%s, %s)", engine_path, meta["precision"], meta["gpu"])
    return engine_path
