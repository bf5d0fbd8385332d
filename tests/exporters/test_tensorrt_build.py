import pytest

from engine.backends.engine_file import read_engine_file, write_engine_file
from exporters.tensorrt_build import EngineProfile, build_engine, tensorrt_available
from tests.conftest import cuda_available


def test_engine_file_header_round_trip(tmp_path):
    """An engine file carries its metadata header; a plain engine without one still reads."""
    path = write_engine_file(tmp_path / "m.engine", b"\x01\x02engine-bytes", {"tensorrt_version": "10.0", "gpu": "X"})
    meta, blob = read_engine_file(path)
    assert meta["tensorrt_version"] == "10.0" and meta["gpu"] == "X" and blob == b"\x01\x02engine-bytes"
    (tmp_path / "plain.engine").write_bytes(b"\xff" * 64)
    meta, blob = read_engine_file(tmp_path / "plain.engine")
    assert meta == {} and blob == b"\xff" * 64


@pytest.mark.gpu
@pytest.mark.skipif(not (tensorrt_available() and cuda_available()), reason="needs TensorRT and a CUDA GPU")
def test_build_engine_with_profile_and_timing_cache(tiny_model, tmp_path):
    """A TensorRT fp16 engine builds from the exported ONNX with a profile, a timing cache and a header."""
    engine = build_engine(
        tiny_model.model_path,
        tmp_path / "tiny.engine",
        3,
        fp16=True,
        profile=EngineProfile((64, 64), (360, 640), (1080, 1920)),
        timing_cache=tmp_path / "cache.bin",
    )
    meta, blob = read_engine_file(engine)
    assert meta["precision"] == "fp16" and meta["tensorrt_version"] and len(blob) > 1000
    assert (tmp_path / "cache.bin").stat().st_size > 0


def test_build_without_tensorrt_is_a_clear_error(tiny_model, tmp_path):
    """Without TensorRT installed, a build says how to get it instead of crashing."""
    if tensorrt_available():
        pytest.skip("TensorRT is installed here")
    from engine.errors import ExportError

    with pytest.raises(ExportError, match="TensorRT is not installed"):
        build_engine(tiny_model.model_path, tmp_path / "x.engine", 3)
