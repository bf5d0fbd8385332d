"""Settings of the show's frame path, which ``installation.show`` assembles (config sections ``source``,
``model``, ``pipeline``, ``style``, ``display`` and ``record``)."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from installation.config.base import PathText, Settings, related


def _device(value: object) -> int | str:
    if isinstance(value, str) and value or isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise PydanticCustomError(
        "device",
        "expected a camera index (0, 1, ...), a device path or an RTSP/HTTP URL, got {got}",
        {"got": repr(value)},
    )


Device = Annotated[
    int | str,
    PlainValidator(_device),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "minLength": 1}]}),
]
Width = Annotated[StrictInt, Field(ge=16, le=7680)]
Height = Annotated[StrictInt, Field(ge=16, le=4320)]


class SourceSettings(Settings):
    """Where the pictures come from, and what stands in when it fails."""

    type: Literal["auto", "camera", "video", "slideshow", "pattern", "generator", "ndi"] = Field(
        "auto", description="auto: camera `device` if present, else the built-in animated pattern; ndi: `ndi_name`"
    )
    device: Device = Field(0, description="camera index, device path, or RTSP/HTTP URL")
    path: PathText = Field("", description="the video file or image folder for type video/slideshow")
    ndi_name: StrictStr = Field(
        "", description="the NDI source for type ndi: 'MACHINE (name)' or just its name (the [ndi] extra)"
    )
    width: Width = Field(640, description="capture width in pixels")
    height: Height = Field(360, description="capture height in pixels")
    fps: StrictFloat = Field(30.0, gt=0, le=240, description="frames per second asked of the source")
    mirror: StrictBool = Field(False, description="flip left-right (a camera facing the visitors)")
    zoom: StrictFloat = Field(1.0, ge=1, le=8, description="digital zoom into the centre")
    fallback: Literal["pattern", "slideshow", "video", "generator", "none"] = Field(
        "pattern", description="shown while a camera or video fails"
    )
    stale_after_s: StrictFloat = Field(2.0, gt=0, description="a camera silent this long counts as lost")
    slide_seconds: StrictFloat = Field(8.0, gt=0, description="seconds per image of a slideshow")
    seed: StrictInt = Field(0, description="seed of the pattern and of the generator's walk")
    generator: PathText = Field(
        "models/generator.json",
        description="the generator's manifest, for type/fallback generator and attract.source: generator",
    )
    walk_speed: StrictFloat = Field(1.0, ge=0, description="speed of the generator's latent walk")
    walk_amplitude: StrictFloat = Field(1.0, ge=0, description="how far the generator's walk strays")
    dream_sharpen: StrictFloat = Field(
        0.0,
        ge=0,
        le=8,
        description="crisp the generator's enlarged dream (unsharp mask amount; 4: as sharp as a camera at 1080p)",
    )
    audio: StrictBool = Field(
        False, description="the generator's walk follows the room's loudness and onsets (needs a microphone)"
    )
    crossfade_s: StrictFloat = Field(1.5, ge=0, le=30, description="dissolve to and from the fallback (0: a cut)")

    @model_validator(mode="after")
    def _needs_path(self) -> SourceSettings:
        if self.type in ("video", "slideshow") and not self.path:
            raise related("path", f"a file or folder for source type {self.type!r}")
        if self.type == "ndi" and not self.ndi_name.strip():
            raise related("ndi_name", "the NDI source's name for source type 'ndi'")
        return self


TRITON_URL_ENV = "LATERNA_TRITON_URL"  # overrides model.triton.url: one set of config files for every site


class TritonSettings(Settings):
    """A Triton Inference Server that stylises this node's frames (the `triton` backend; see docs/triton.md)."""

    url: StrictStr = Field(
        "", description=f"the server's gRPC address, host:port (Triton listens on 8001); {TRITON_URL_ENV} overrides it"
    )
    model: StrictStr = Field("", description="the model's name on the server (empty: the manifest's name)")
    version: StrictInt = Field(0, ge=0, description="the model version to use (0: the one the server's policy picks)")
    timeout_s: StrictFloat = Field(
        1.0, gt=0, le=60, description="one frame's round trip; slower counts as a failure (3 in a row: next backend)"
    )
    connect_timeout_s: StrictFloat = Field(
        5.0, gt=0, le=120, description="checking the server and its model when the backend starts"
    )

    def effective_url(self) -> str:
        """The URL the backend uses: the environment's ``LATERNA_TRITON_URL`` if set, else ``url``."""
        return os.environ.get(TRITON_URL_ENV, "").strip() or self.url


class ModelSettings(Settings):
    """The style network and the runtimes that may run it, in order of preference."""

    manifest: PathText = Field("models/lantern.json", description="the model's JSON manifest")
    backends: tuple[Literal["onnxruntime", "tensorrt", "torch", "triton"], ...] = Field(
        ("onnxruntime",),
        min_length=1,
        description="runtimes tried in this order (triton: a remote server, with a local runtime after it)",
    )
    providers: tuple[Literal["tensorrt", "cuda", "cpu"], ...] = Field(
        ("cpu",), description="ONNX Runtime execution providers, in order"
    )
    device: StrictStr = Field("cpu", description="torch device for the torch backend (cpu, cuda, cuda:1)")
    threads: StrictInt = Field(1, ge=0, description="threads per session (0: the runtime's default)")
    sessions: StrictInt = Field(2, ge=1, le=8, description="sessions working on alternate frames")
    fp16: StrictBool = Field(False, description="half precision where the runtime supports it")
    engine: PathText = Field("", description="a prebuilt TensorRT engine file")
    triton: TritonSettings = Field(
        default_factory=TritonSettings, description="the Triton Inference Server of the triton backend"
    )
    retry_s: StrictFloat = Field(
        30.0,
        ge=0,
        description="after falling back from a remote backend (triton), try it again this often, in the "
        "background (0: never)",
    )

    @model_validator(mode="after")
    def _triton_needs_a_url(self) -> ModelSettings:
        if "triton" in self.backends and not self.triton.effective_url():
            raise related("triton.url", f"the server's host:port for backend triton (or set {TRITON_URL_ENV})")
        return self


class PipelineSettings(Settings):
    """The working size and the steps around the model."""

    width: Width = Field(640, description="the model's working width")
    height: Height = Field(360, description="the model's working height")
    workers: StrictInt = Field(2, ge=1, le=8, description="inference threads")
    smoothing: StrictFloat = Field(0.5, ge=0, lt=1, description="motion-aware flicker reduction (0: off)")
    motion_threshold: StrictFloat = Field(12.0, ge=0, description="pixel change that counts as motion")
    frame_budget_ms: StrictFloat = Field(500.0, gt=0, description="a frame later than this is dropped")


class StyleSettings(Settings):
    """The look the show starts with, and how it changes."""

    start: dict[str, Annotated[StrictFloat, Field(ge=0)]] = Field(
        default_factory=lambda: {"starry_night": 1.0},
        description="style name -> weight at start; names must be the model's",
    )
    strength: StrictFloat = Field(1.0, ge=0, le=1, description="how strongly the picture is restyled")
    transition_s: StrictFloat = Field(3.0, ge=0, description="glide time to a new look")
    easing: Literal["linear", "smoothstep", "ease-in-out"] = Field("smoothstep", description="shape of the glide")


BlendWidth = Annotated[StrictInt, Field(ge=0, le=7680)] | None
SHOW_WIDE_KEYS = ("type", "fps", "stats_overlay", "canvas")  # display keys of the whole show, not of one output


class BlendSettings(Settings):
    """Edge blending: where two projectors overlap, each fades out so their light adds up to the rest."""

    left: BlendWidth = Field(
        None,
        description="blend zone at the left edge, canvas pixels; null: the overlap with "
        "the neighbouring output's region",
    )
    right: BlendWidth = Field(None, description="blend zone at the right edge (null: from the regions' overlap)")
    top: BlendWidth = Field(None, description="blend zone at the top edge (null: from the regions' overlap)")
    bottom: BlendWidth = Field(None, description="blend zone at the bottom edge (null: from the regions' overlap)")
    curve: StrictFloat = Field(2.0, ge=1, le=8, description="shape of the ramp: 1 linear, 2 a smooth S, more: steeper")
    gamma: StrictFloat = Field(
        2.2, ge=1, le=3, description="the projector's gamma: the ramp is applied in linear light"
    )


class OutputSettings(Settings):
    """One projector: its window, the part of the picture it shows, and its blend, warp and colour."""

    monitor: StrictInt = Field(0, ge=0, description="which display (the projector is often 1)")
    fullscreen: StrictBool = Field(False, description="full screen on that display")
    width: Width = Field(640, description="window width")
    height: Height = Field(360, description="window height")
    position: tuple[StrictInt, ...] = Field(
        (), description="[x, y] of the window's top-left corner on the desktop; empty: placed on `monitor`"
    )
    fit: Literal["letterbox", "fill"] = Field("letterbox", description="keep the aspect ratio, or fill the window")
    keystone: tuple[tuple[StrictFloat, StrictFloat], ...] = Field(
        (),
        description="four [x, y] corners in 0..1 (top-left, top-right, bottom-right, bottom-left) for a tilted "
        "projector",
    )
    mesh: tuple[tuple[tuple[StrictFloat, StrictFloat], ...], ...] = Field(
        (),
        description="a warp grid for curved walls: rows (top to bottom) of [x, y] points in 0..1 (left to right), "
        "at least 2x2, where each grid point of the picture lands (`laterna calibrate` writes it)",
    )
    region: tuple[StrictInt, ...] = Field(
        (), description="[x, y, width, height] of the canvas this output shows, in canvas pixels; empty: all of it"
    )
    blend: BlendSettings = Field(default_factory=BlendSettings, description="edge blending in overlaps")
    gain: tuple[StrictFloat, StrictFloat, StrictFloat] = Field(
        (1.0, 1.0, 1.0), description="brightness per colour [r, g, b], in linear light (0..2)"
    )
    black_level: StrictFloat = Field(
        0.0, ge=0, le=0.25, description="lift of black outside blend zones (linear light) to match the overlaps"
    )
    hide_cursor: StrictBool = Field(True, description="hide the mouse pointer over the window")
    vsync: StrictBool = Field(True, description="wait for the display's refresh")
    overlays: StrictBool | None = Field(
        None, description="draw the join hint and stats on this projector; null: on the first projector only"
    )

    @field_validator("keystone")
    @classmethod
    def _four_corners(cls, corners: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if len(corners) not in (0, 4):
            raise ValueError(
                "expected four [x, y] corners (top-left, top-right, bottom-right, bottom-left) in 0..1, "
                f"got {len(corners)}"
            )
        return corners

    @field_validator("mesh")
    @classmethod
    def _grid(cls, rows: tuple[tuple[tuple[float, float], ...], ...]) -> tuple[tuple[tuple[float, float], ...], ...]:
        if rows and (len(rows) < 2 or len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows)):
            raise ValueError(
                f"expected at least 2 rows of at least 2 [x, y] points, every row as long, got {[len(r) for r in rows]}"
            )
        return rows

    @field_validator("position")
    @classmethod
    def _position(cls, xy: tuple[int, ...]) -> tuple[int, ...]:
        if len(xy) not in (0, 2):
            raise ValueError(f"expected [x, y] in desktop pixels (or nothing), got {list(xy)}")
        return xy

    @field_validator("region")
    @classmethod
    def _region(cls, box: tuple[int, ...]) -> tuple[int, ...]:
        if box and (len(box) != 4 or min(box[:2]) < 0 or min(box[2:]) < 16):
            raise ValueError(f"expected [x, y, width, height] with x, y >= 0 and a size >= 16x16, got {list(box)}")
        return box

    @field_validator("gain")
    @classmethod
    def _gain(cls, gain: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0 <= g <= 2 for g in gain):
            raise ValueError(f"expected three gains [r, g, b] from 0 to 2, got {list(gain)}")
        return gain


class DisplaySettings(OutputSettings):
    """The projector windows: this mapping is the first output; ``outputs`` adds more (or write ``display``
    as a list of outputs: the first item is this mapping, the rest go to ``outputs``)."""

    type: Literal["auto", "window", "headless"] = Field(
        "auto", description="auto: a window when a display exists, else headless"
    )
    fps: StrictFloat = Field(30.0, ge=0, le=240, description="shown frames per second (0: unthrottled)")
    stats_overlay: StrictBool = Field(False, description="live fps, timings and mix in the corner")
    canvas: tuple[StrictInt, ...] = Field(
        (),
        description="[width, height] of the picture the outputs' regions cut up; empty: the regions' bounding "
        "box, or the first window's size",
    )
    outputs: tuple[OutputSettings, ...] = Field(
        (), description="more projectors, one window each (the first output is this mapping itself)"
    )

    @model_validator(mode="before")
    @classmethod
    def _list_of_outputs(cls, data: object) -> object:
        """``display: [a, b, c]`` is ``display: {**a, outputs: [b, c]}``; show-wide keys may sit in any item."""
        if not isinstance(data, (list, tuple)):
            return data
        if not data or not all(isinstance(item, dict) for item in data):
            raise ValueError("expected a mapping (one output) or a list of mappings (one per output)")
        first = dict(data[0])
        rest = []
        for i, item in enumerate(data[1:], start=1):
            item = dict(item)
            for key in SHOW_WIDE_KEYS:
                if key in item:
                    value = item.pop(key)
                    if key in first and first[key] != value:
                        raise ValueError(f"display[{i}].{key} is {value!r} but an earlier output says {first[key]!r}")
                    first[key] = value
            rest.append(item)
        if "outputs" in first:
            raise ValueError("write either a list of outputs or `outputs:`, not both")
        return {**first, "outputs": rest}

    @field_validator("canvas")
    @classmethod
    def _canvas(cls, size: tuple[int, ...]) -> tuple[int, ...]:
        if size and (len(size) != 2 or not (16 <= size[0] <= 15360 and 16 <= size[1] <= 8640)):
            raise ValueError(f"expected [width, height] from 16x16 to 15360x8640 (or nothing), got {list(size)}")
        return size

    @property
    def all_outputs(self) -> tuple[OutputSettings, ...]:
        """Every output, the first (this mapping) included."""
        return (self, *self.outputs)

    @property
    def canvas_size(self) -> tuple[int, int]:
        """The size of the picture the sinks receive: ``canvas``, else the regions' bounding box, else
        the first window's size."""
        if self.canvas:
            return self.canvas[0], self.canvas[1]
        regions = [o.region for o in self.all_outputs if o.region]
        if not regions:
            return self.width, self.height
        return max(x + w for x, _, w, _ in regions), max(y + h for _, y, _, h in regions)

    @model_validator(mode="after")
    def _regions_fit(self) -> DisplaySettings:
        cw, ch = self.canvas_size
        for i, out in enumerate(self.all_outputs):
            if out.region and (out.region[0] + out.region[2] > cw or out.region[1] + out.region[3] > ch):
                where = "region" if i == 0 else f"outputs[{i - 1}].region"
                raise related(where, f"a region inside the {cw}x{ch} canvas, got {list(out.region)}")
            w, h = (out.region[2], out.region[3]) if out.region else (cw, ch)
            b = out.blend
            if (b.left or 0) + (b.right or 0) > w or (b.top or 0) + (b.bottom or 0) > h:
                where = "blend" if i == 0 else f"outputs[{i - 1}].blend"
                raise related(where, f"blend zones that fit the output's {w}x{h} region")
        return self


class RecordSettings(Settings):
    """Recording what is shown."""

    path: PathText = Field(
        "", description="a video file (.mp4/.avi), or a folder ending in / for numbered PNGs; empty: off"
    )
    every_n: StrictInt = Field(1, ge=1, description="record every n-th shown frame")


def display_key(key: str, raw_display: object) -> str:
    """A problem's dotted key as the file spells it: with ``display`` written as a list, ``display.outputs[0].x``
    is the list's second item, ``display[1].x``, and ``display.x`` its first, ``display[0].x``."""
    if not isinstance(raw_display, (list, tuple)) or not key.startswith("display"):
        return key
    m = re.match(r"display\.outputs\[(\d+)\](.*)", key)
    if m:
        return f"display[{int(m.group(1)) + 1}]{m.group(2)}"
    return "display[0]" + key[len("display") :] if key.startswith("display.") else key
