"""The JSON manifest that travels beside every model file.

Exporters write it; backends check their inputs against it; the prompt interpreter reads the style
descriptions from it. ``load_manifest`` validates the parts the engine relies on and names the file
and key of anything wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic_file import write_atomic
from engine.errors import ModelError

FORMAT = "laterna-model/1"
KINDS = ("style", "generator")


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, shape (ints, or strings for dynamic axes), dtype, range."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    range: tuple[float, float] = (0.0, 1.0)
    layout: str = ""

    def fixed_hw(self) -> tuple[int, int] | None:
        """(height, width) if an NCHW image tensor has fixed spatial size, else None."""
        if len(self.shape) == 4 and all(isinstance(v, int) for v in self.shape[2:]):
            return int(self.shape[2]), int(self.shape[3])
        return None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "range": list(self.range),
        }
        if self.layout:
            d["layout"] = self.layout
        return d


@dataclass(frozen=True)
class StyleInfo:
    """A style the model knows: words for the interpreter, and where the style came from."""

    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    artwork: str = ""
    artist: str = ""
    year: str = ""
    licence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": list(self.tags),
            "artwork": self.artwork,
            "artist": self.artist,
            "year": self.year,
            "licence": self.licence,
        }


@dataclass(frozen=True)
class Manifest:
    """A model's manifest. ``path`` is where it was read from (or will be written)."""

    name: str
    file: str
    kind: str = "style"
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    styles: tuple[StyleInfo, ...] = ()
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # training, parity, provenance, variants ...
    path: Path | None = None

    # -- lookups the engine needs --------------------------------------------------------------
    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    @property
    def image_input(self) -> TensorSpec:
        """The 4-D image input (named ``image`` in Laterna's own models)."""
        spec = self.input("image") or next((t for t in self.inputs if len(t.shape) == 4), None)
        if spec is None:
            raise ModelError(f"{self.path}: manifest has no 4-D image input")
        return spec

    @property
    def style_input(self) -> TensorSpec | None:
        return self.input("style")

    @property
    def style_names(self) -> list[str]:
        return [s.name for s in self.styles]

    @property
    def model_path(self) -> Path:
        base = self.path.parent if self.path else Path(".")
        return base / self.file

    def variant_file(self, kind: str) -> Path | None:
        """The file of the exported variant ``variants.<kind>`` (``tensorrt``, ``torchscript``), None if not listed."""
        variants = self.extra.get("variants")
        entry = variants.get(kind) if isinstance(variants, dict) else None
        file = entry.get("file") if isinstance(entry, dict) else None
        return self.model_path.parent / file if isinstance(file, str) else None

    # -- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "kind": self.kind,
            "file": self.file,
            "sha256": self.sha256,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "styles": [s.to_dict() for s in self.styles],
        }
        d.update(self.extra)
        return d

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path else self.path
        if target is None:
            raise ModelError("manifest has no path to save to")
        # a temporary file beside it, then an atomic rename: a full disk never leaves half a manifest
        write_atomic(target, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return target

    def verify_file(self) -> None:
        """Raise ModelError if the model file is missing or its sha256 differs from the manifest's."""
        model = self.model_path
        if not model.is_file():
            raise ModelError(f"{model}: model file named by {self.path} not found")
        if self.sha256 and file_sha256(model) != self.sha256:
            raise ModelError(f"{model}: sha256 does not match its manifest {self.path} (corrupt or replaced file)")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_path_for(model: str | Path) -> Path:
    """``models/x.onnx`` -> ``models/x.json`` (the manifest beside the model)."""
    return Path(model).with_suffix(".json")


def _tensor(raw: object, where: str) -> TensorSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("shape"), list):
        raise ModelError(f"{where}: expected an object with 'name' (text) and 'shape' (list)")
    shape = tuple(v if isinstance(v, str) else int(v) for v in raw["shape"])
    rng = raw.get("range", [0.0, 1.0])
    if not (isinstance(rng, list) and len(rng) == 2):
        raise ModelError(f"{where}.range: expected [low, high]")
    return TensorSpec(
        raw["name"], shape, str(raw.get("dtype", "float32")), (float(rng[0]), float(rng[1])), str(raw.get("layout", ""))
    )


def manifest_from_dict(data: object, path: Path | None = None) -> Manifest:
    where = str(path) if path else "manifest"
    if not isinstance(data, dict):
        raise ModelError(f"{where}: expected a JSON object")
    for key in ("name", "file"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ModelError(f"{where}: key '{key}' must be a non-empty string")
    kind = data.get("kind", "style")
    if kind not in KINDS:
        raise ModelError(f"{where}: key 'kind' must be one of {KINDS}, got {kind!r}")
    for key in ("inputs", "outputs"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise ModelError(f"{where}: key '{key}' must be a non-empty list")
    inputs = tuple(_tensor(t, f"{where}: inputs[{i}]") for i, t in enumerate(data["inputs"]))
    outputs = tuple(_tensor(t, f"{where}: outputs[{i}]") for i, t in enumerate(data["outputs"]))
    styles = []
    for i, s in enumerate(data.get("styles", [])):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise ModelError(f"{where}: styles[{i}] must be an object with a 'name'")
        styles.append(
            StyleInfo(
                s["name"],
                str(s.get("description", "")),
                tuple(str(t) for t in s.get("tags", [])),
                str(s.get("artwork", "")),
                str(s.get("artist", "")),
                str(s.get("year", "")),
                str(s.get("licence", "")),
            )
        )
    style_spec = next((t for t in inputs if t.name == "style"), None)
    if style_spec is not None and isinstance(style_spec.shape[-1], int) and style_spec.shape[-1] != len(styles):
        raise ModelError(
            f"{where}: input 'style' has {style_spec.shape[-1]} weights but {len(styles)} styles are listed"
        )
    known = {"format", "name", "kind", "file", "sha256", "inputs", "outputs", "styles"}
    extra = {k: v for k, v in data.items() if k not in known}
    return Manifest(
        data["name"], data["file"], kind, inputs, outputs, tuple(styles), str(data.get("sha256", "")), extra, path
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest (or the manifest beside a model file); clear ModelError on any problem."""
    p = Path(path)
    if p.suffix != ".json":
        p = manifest_path_for(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{p}: manifest not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{p}: cannot read manifest ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return manifest_from_dict(data, p)
