"""A Laterna model as a Triton Inference Server model repository.

``write_triton_repository(manifest, repo)`` writes, for a style model ``NAME`` at version ``V``::

    repo/NAME/config.pbtxt          inputs/outputs/dtypes/dims from the manifest, dynamic batching,
    repo/NAME/V/model.onnx          instance groups, version policy (platform onnxruntime_onnx)
    repo/NAME_trt/config.pbtxt      only when the manifest lists a TensorRT engine (variants.tensorrt):
    repo/NAME_trt/V/model.plan      the engine without Laterna's metadata header (platform tensorrt_plan)

Batching: when the ONNX graph's first input axis is dynamic (``laterna export`` writes it so), the
config declares ``max_batch_size`` and leaves the batch axis out of ``dims``; Triton's dynamic batcher
then joins frames from several render nodes into one pass. A TensorRT engine whose profile fixes the
batch at 1 gets ``max_batch_size: 0`` (no batching: its dims keep the batch axis of 1).

The picture travels as uint8 by default (``wire="uint8"``): the ONNX model in the repository is the
network wrapped with a Cast/scale in front and a scale/Round/Cast behind, so a 640x360 frame is 0.7 MB
each way instead of 2.8 MB. ``wire="float32"`` serves the file as it is. The TensorRT plan is served
as float32 (it was built from the unwrapped network).

The manifest's sha256 travels in the config's ``parameters`` so a render node can tell that the
server serves the same model its own manifest describes. Existing files are never replaced without
``force``; everything is written to a staging folder and moved into place together, configs last.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.backends.engine_file import read_engine_file
from engine.errors import ExportError, ModelError
from engine.manifest import Manifest, TensorSpec
from exporters.staging import StagedOutputs

log = logging.getLogger(__name__)

DTYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "uint8": "TYPE_UINT8",
    "int8": "TYPE_INT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "bool": "TYPE_BOOL",
}
SHA_PARAMETER = "laterna_sha256"
WIRES = ("uint8", "float32")
KINDS = ("KIND_CPU", "KIND_GPU", "KIND_AUTO")


@dataclass(frozen=True)
class TritonRepoOptions:
    """How the model is served: batching, instances, versions."""

    version: int = 1
    max_batch_size: int = 8  # frames one pass may take (from any nodes); 0 = no batching
    preferred_batch_sizes: tuple[int, ...] = (2, 4)
    max_queue_delay_us: int = 2000  # how long the batcher waits for more frames to join a pass
    instances: int = 1  # model instances (parallel passes) per device
    kind: str = "KIND_AUTO"  # where the ONNX model's instances run; the plan always runs on the GPU
    num_versions: int = 1  # version policy: serve the latest N versions
    wire: str = "uint8"  # the picture on the network: uint8 (4x less data, exact to 1/255) or float32


def _text(value: str) -> str:
    """A protobuf text-format string literal (UTF-8 as it is; quotes, backslashes and newlines escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dims(spec: TensorSpec, batched: bool) -> list[int]:
    shape = list(spec.shape)
    if batched:
        shape = shape[1:]
    return [d if isinstance(d, int) else -1 for d in shape]


def onnx_batch_is_dynamic(model: Path, inputs: tuple[TensorSpec, ...]) -> bool:
    """True when every input's first axis in the ONNX graph is symbolic (or unset): frames can be batched."""
    import onnx

    try:
        graph = onnx.load(str(model), load_external_data=False).graph
    except Exception as exc:  # onnx raises its own types for a corrupt file
        raise ExportError(f"{model}: not a readable ONNX model ({exc})") from exc
    by_name = {i.name: i for i in graph.input}
    for spec in inputs:
        node = by_name.get(spec.name)
        if node is None:
            raise ExportError(f"{model}: has no input {spec.name!r} named by its manifest")
        dims = node.type.tensor_type.shape.dim
        if not dims or dims[0].HasField("dim_value"):
            return False
    return True


def uint8_wire_model(src: Path, dst: Path, image: TensorSpec, output: TensorSpec) -> Path:
    """Write ``src`` wrapped so its picture input and output are uint8 0..255 (on the wire: a quarter of
    float32's bytes). Inside: Cast -> scale to the model's input range -> the network -> scale from its
    output range -> Round -> Clip -> Cast, the same rounding as the show's own float -> pixel step."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    try:
        model = onnx.load(str(src))
    except Exception as exc:  # onnx raises its own types for a corrupt file
        raise ExportError(f"{src}: not a readable ONNX model ({exc})") from exc
    g = model.graph
    inner_in, inner_out = f"{image.name}__float", f"{output.name}__float"
    for node in g.node:
        node.input[:] = [inner_in if n == image.name else inner_out if n == output.name else n for n in node.input]
        node.output[:] = [inner_out if n == output.name else n for n in node.output]
    graph_in = next((i for i in g.input if i.name == image.name), None)
    graph_out = next((o for o in g.output if o.name == output.name), None)
    if graph_in is None or graph_out is None:
        raise ExportError(f"{src}: has no input {image.name!r} or output {output.name!r}")
    graph_in.type.tensor_type.elem_type = TensorProto.UINT8
    graph_out.type.tensor_type.elem_type = TensorProto.UINT8
    (lo, hi), (olo, ohi) = image.range, output.range

    def const(name: str, value: float) -> str:
        import numpy as np

        g.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
        return name

    w = "laterna_wire__"
    pre = [
        helper.make_node("Cast", [image.name], [w + "in_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [w + "in_f", const(w + "in_scale", (hi - lo) / 255.0)], [w + "in_s"]),
        helper.make_node("Add", [w + "in_s", const(w + "in_lo", lo)], [inner_in]),
    ]
    post = [
        helper.make_node("Sub", [inner_out, const(w + "out_lo", olo)], [w + "out_z"]),
        helper.make_node("Mul", [w + "out_z", const(w + "out_scale", 255.0 / (ohi - olo))], [w + "out_s"]),
        helper.make_node("Round", [w + "out_s"], [w + "out_r"]),
        helper.make_node("Clip", [w + "out_r", const(w + "zero", 0.0), const(w + "top", 255.0)], [w + "out_c"]),
        helper.make_node("Cast", [w + "out_c"], [output.name], to=TensorProto.UINT8),
    ]
    nodes = [*pre, *g.node, *post]
    del g.node[:]
    g.node.extend(nodes)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{src}: the uint8 wrapper does not validate ({exc})") from exc
    onnx.save(model, str(dst))
    return dst


def _tensor_block(specs: tuple[TensorSpec, ...], batched: bool, uint8: tuple[str, ...] = ()) -> str:
    rows = []
    for t in specs:
        dtype = "TYPE_UINT8" if t.name in uint8 else DTYPES.get(t.dtype)
        if dtype is None:
            raise ExportError(f"tensor {t.name!r}: dtype {t.dtype!r} has no Triton type (known: {sorted(DTYPES)})")
        dims = ", ".join(str(d) for d in _dims(t, batched))
        rows.append(f"  {{\n    name: {_text(t.name)}\n    data_type: {dtype}\n    dims: [ {dims} ]\n  }}")
    return "[\n" + ",\n".join(rows) + "\n]"


def triton_config(
    manifest: Manifest,
    model_name: str,
    platform: str,
    options: TritonRepoOptions,
    max_batch_size: int,
    kind: str,
    wire: str = "float32",
) -> str:
    """The text of a ``config.pbtxt`` (protobuf text format of Triton's ``ModelConfig``)."""
    if kind not in KINDS:
        raise ExportError(f"instance kind must be one of {KINDS}, got {kind!r}")
    batched = max_batch_size > 0
    u8 = (manifest.image_input.name,) if wire == "uint8" else ()
    u8_out = (manifest.outputs[0].name,) if wire == "uint8" else ()
    lines = [
        f"name: {_text(model_name)}",
        f"platform: {_text(platform)}",
        f"max_batch_size: {max_batch_size}",
        f"version_policy: {{ latest: {{ num_versions: {options.num_versions} }} }}",
        f"input {_tensor_block(manifest.inputs, batched, u8)}",
        f"output {_tensor_block(manifest.outputs, batched, u8_out)}",
    ]
    if batched:
        preferred = [b for b in options.preferred_batch_sizes if 0 < b <= max_batch_size]
        lines.append(
            "dynamic_batching {\n"
            + (f"  preferred_batch_size: [ {', '.join(str(b) for b in preferred)} ]\n" if preferred else "")
            + f"  max_queue_delay_microseconds: {options.max_queue_delay_us}\n}}"
        )
    lines.append(f"instance_group [\n  {{\n    count: {options.instances}\n    kind: {kind}\n  }}\n]")
    params = {
        SHA_PARAMETER: manifest.sha256,  # of the manifest's own model file, which the served one wraps
        "laterna_styles": json.dumps(manifest.style_names),
        "laterna_wire": wire,
    }
    for key, value in params.items():
        lines.append(f'parameters {{\n  key: "{key}"\n  value: {{ string_value: {_text(value)} }}\n}}')
    return "\n".join(lines) + "\n"


def repository_files(name: str, version: int, with_plan: bool) -> list[str]:
    """The files ``write_triton_repository`` writes, relative to the repository folder."""
    files = [f"{name}/{version}/model.onnx", f"{name}/config.pbtxt"]
    if with_plan:
        files += [f"{name}_trt/{version}/model.plan", f"{name}_trt/config.pbtxt"]
    return files


def write_triton_repository(
    manifest: Manifest,
    repo: str | Path,
    options: TritonRepoOptions = TritonRepoOptions(),
    name: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the model (and its TensorRT engine, if the manifest lists one) as a Triton model repository."""
    if manifest.kind != "style":
        raise ExportError(f"{manifest.path}: only style models are served through Triton, not {manifest.kind!r}")
    if options.version < 1:
        raise ExportError(f"Triton model versions start at 1, got {options.version}")
    if options.wire not in WIRES:
        raise ExportError(f"wire must be one of {WIRES}, got {options.wire!r}")
    if options.max_batch_size < 0 or options.instances < 1:
        raise ExportError("max_batch_size must be >= 0 and instances >= 1")
    try:
        manifest.verify_file()
    except ModelError as exc:
        raise ExportError(str(exc)) from exc
    name = name or manifest.name
    repo = Path(repo)
    plan = manifest.variant_file("tensorrt")
    if plan is not None and not plan.is_file():
        log.warning(
            "%s: the manifest lists TensorRT engine %s but it is not there; writing the ONNX model only",
            manifest.path,
            plan,
        )
        plan = None
    files = repository_files(name, options.version, plan is not None)
    batch = options.max_batch_size if onnx_batch_is_dynamic(manifest.model_path, manifest.inputs) else 0
    if options.max_batch_size and not batch:
        log.warning(
            "%s: the ONNX model's batch axis is fixed; serving it without dynamic batching", manifest.model_path
        )
    configs = {
        f"{name}/config.pbtxt": triton_config(
            manifest, name, "onnxruntime_onnx", options, batch, options.kind, options.wire
        )
    }
    with StagedOutputs(repo, files, force) as stage:
        onnx_target = stage / files[0]
        onnx_target.parent.mkdir(parents=True, exist_ok=True)
        if options.wire == "uint8":
            uint8_wire_model(manifest.model_path, onnx_target, manifest.image_input, manifest.outputs[0])
        else:
            shutil.copyfile(manifest.model_path, onnx_target)
        if plan is not None:
            meta, blob = read_engine_file(plan)  # Triton wants the bare engine, without Laterna's header
            profile = meta.get("profile") if isinstance(meta.get("profile"), dict) else {}
            plan_batch = int(profile.get("batch", 1)) if isinstance(profile, dict) else 1
            plan_target = stage / files[2]
            plan_target.parent.mkdir(parents=True, exist_ok=True)
            plan_target.write_bytes(blob)
            configs[f"{name}_trt/config.pbtxt"] = triton_config(
                manifest,
                f"{name}_trt",
                "tensorrt_plan",
                options,
                min(plan_batch, options.max_batch_size) if plan_batch > 1 and batch else 0,
                "KIND_GPU",
            )
        for rel, text in configs.items():
            (stage / rel).write_text(text, encoding="utf-8")
    return [repo / f for f in files]
