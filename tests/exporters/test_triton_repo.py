import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.backends.engine_file import write_engine_file
from engine.errors import ExportError
from engine.manifest import Manifest, TensorSpec, file_sha256
from exporters.staging import OverwriteError
from exporters.triton_repo import TritonRepoOptions, write_triton_repository


def parse_config(path):
    """The config.pbtxt at ``path`` parsed by Triton's own protobuf schema (tritonclient's model_config_pb2)."""
    pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed (pip install 'laterna[triton]')")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def test_repository_config_parses_as_tritons_model_config(tiny_model, tmp_path):
    """The written config.pbtxt parses as Triton's ModelConfig with the manifest's tensors, batching and policy."""
    from tritonclient.grpc import model_config_pb2 as pb

    opts = TritonRepoOptions(version=3, max_batch_size=6, preferred_batch_sizes=(2, 4, 8), instances=2, kind="KIND_CPU")
    files = write_triton_repository(tiny_model, tmp_path / "repo", opts)
    assert [f.relative_to(tmp_path / "repo").as_posix() for f in files] == ["tiny/3/model.onnx", "tiny/config.pbtxt"]
    c = parse_config(files[1])
    assert (c.name, c.platform, c.max_batch_size) == ("tiny", "onnxruntime_onnx", 6)
    assert [(t.name, pb.DataType.Name(t.data_type), list(t.dims)) for t in c.input] == [
        ("image", "TYPE_UINT8", [3, -1, -1]),  # the picture travels as uint8 by default
        ("style", "TYPE_FP32", [3]),
    ]
    assert [(t.name, pb.DataType.Name(t.data_type), list(t.dims)) for t in c.output] == [
        ("stylized", "TYPE_UINT8", [3, -1, -1])
    ]
    assert list(c.dynamic_batching.preferred_batch_size) == [2, 4]  # 8 is over max_batch_size
    assert c.dynamic_batching.max_queue_delay_microseconds == opts.max_queue_delay_us
    assert [(g.count, pb.ModelInstanceGroup.Kind.Name(g.kind)) for g in c.instance_group] == [(2, "KIND_CPU")]
    assert c.version_policy.latest.num_versions == 1
    assert c.parameters["laterna_sha256"].string_value == tiny_model.sha256
    assert json.loads(c.parameters["laterna_styles"].string_value) == tiny_model.style_names
    assert c.parameters["laterna_wire"].string_value == "uint8"
    assert not [p for p in (tmp_path / "repo").iterdir() if p.name.startswith(".laterna-staging")]


def test_the_uint8_wire_model_gives_the_pixels_the_show_would_show(tiny_model, tmp_path):
    """The wrapped model takes and gives uint8 and matches the network plus the show's own rounding to one level;
    with wire float32 the repository holds the manifest's model file byte for byte."""
    import cv2
    import onnxruntime as ort

    files = write_triton_repository(tiny_model, tmp_path / "u8")
    wrapped = ort.InferenceSession(str(files[0]))
    plain = ort.InferenceSession(str(tiny_model.model_path))
    assert [i.type for i in wrapped.get_inputs()] == ["tensor(uint8)", "tensor(float)"]
    pixels = np.random.default_rng(0).integers(0, 256, (2, 3, 24, 40), dtype=np.uint8)
    style = np.array([[1, 0, 0], [0.2, 0.3, 0.5]], np.float32)
    got = wrapped.run(None, {"image": pixels, "style": style})[0]
    ref = plain.run(None, {"image": pixels.astype(np.float32) / 255, "style": style})[0]
    shown = np.stack([np.stack([cv2.convertScaleAbs(ref[n, c], alpha=255.0) for c in range(3)]) for n in range(2)])
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - shown.astype(int)).max() <= 1
    f32 = write_triton_repository(tiny_model, tmp_path / "f32", TritonRepoOptions(wire="float32"))
    assert file_sha256(f32[0]) == tiny_model.sha256 and "TYPE_UINT8" not in f32[1].read_text()


def test_existing_repository_is_not_overwritten_without_force(tiny_model, tmp_path):
    """A second export into the same repository is refused before any work; with force it replaces the files."""
    repo = tmp_path / "repo"
    write_triton_repository(tiny_model, repo)
    config = repo / "tiny" / "config.pbtxt"
    config.write_text("edited by hand")
    with pytest.raises(OverwriteError, match="--force"):
        write_triton_repository(tiny_model, repo)
    assert config.read_text() == "edited by hand"
    write_triton_repository(tiny_model, repo, force=True)
    assert config.read_text().startswith('name: "tiny"')


def test_a_new_version_goes_beside_the_old_one(tiny_model, tmp_path):
    """Exporting version 2 into a repository that has version 1 is refused only for the shared config."""
    repo = tmp_path / "repo"
    write_triton_repository(tiny_model, repo)
    with pytest.raises(OverwriteError) as err:
        write_triton_repository(tiny_model, repo, TritonRepoOptions(version=2))
    assert "config.pbtxt" in str(err.value) and "model.onnx" not in str(err.value)
    write_triton_repository(tiny_model, repo, TritonRepoOptions(version=2), force=True)
    assert (repo / "tiny" / "1" / "model.onnx").is_file() and (repo / "tiny" / "2" / "model.onnx").is_file()


def fixed_batch_model(tmp_path):
    """A 2-input ONNX model whose batch axis is fixed at 1, with its manifest."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    style = helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 2])
    out = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["stylized"])], "g", [image, style], [out])
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return Manifest(
        "fixed",
        "fixed.onnx",
        inputs=(TensorSpec("image", (1, 3, "h", "w")), TensorSpec("style", (1, 2))),
        outputs=(TensorSpec("stylized", (1, 3, "h", "w")),),
        sha256=file_sha256(path),
        path=tmp_path / "fixed.json",
    )


def test_a_fixed_batch_model_is_served_without_batching(tmp_path):
    """A model whose ONNX batch axis is fixed gets max_batch_size 0, full dims and no dynamic batcher."""
    manifest = fixed_batch_model(tmp_path)
    files = write_triton_repository(manifest, tmp_path / "repo")
    c = parse_config(files[1])
    assert c.max_batch_size == 0 and not c.HasField("dynamic_batching")
    assert [list(t.dims) for t in c.input] == [[1, 3, -1, -1], [1, 2]]


def test_a_tensorrt_engine_becomes_a_plan_model_without_laternas_header(tmp_path):
    """With variants.tensorrt listed, NAME_trt/1/model.plan holds the bare engine and a tensorrt_plan config."""
    manifest = fixed_batch_model(tmp_path)
    engine_bytes = b"\x00serialized-engine-bytes\x01" * 10
    write_engine_file(tmp_path / "fixed.engine", engine_bytes, {"profile": {"batch": 1}, "precision": "fp16"})
    manifest.extra["variants"] = {"tensorrt": {"file": "fixed.engine"}}
    files = write_triton_repository(manifest, tmp_path / "repo")
    names = [f.relative_to(tmp_path / "repo").as_posix() for f in files]
    assert names == ["fixed/1/model.onnx", "fixed/config.pbtxt", "fixed_trt/1/model.plan", "fixed_trt/config.pbtxt"]
    assert files[2].read_bytes() == engine_bytes
    c = parse_config(files[3])
    assert (c.name, c.platform, c.max_batch_size) == ("fixed_trt", "tensorrt_plan", 0)
    from tritonclient.grpc import model_config_pb2 as pb

    assert pb.ModelInstanceGroup.Kind.Name(c.instance_group[0].kind) == "KIND_GPU"


def test_a_missing_or_changed_model_file_is_refused(tiny_model, tmp_path):
    """A model file that is gone or no longer matches its manifest's sha256 is not exported."""
    for f in tiny_model.model_path.parent.glob("tiny.*"):
        shutil.copy(f, tmp_path / f.name)
    from engine.manifest import load_manifest

    manifest = load_manifest(tmp_path / "tiny.json")
    manifest.model_path.write_bytes(manifest.model_path.read_bytes() + b"\0")
    with pytest.raises(ExportError, match="sha256"):
        write_triton_repository(manifest, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
