"""Settings of the live-picture streams served on the visitor port (config section ``streams``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from engine.sinks.fanout import OutputSpec
from installation.config.base import Settings, related
from installation.server.rtc_settings import WebRtcSettings


def _output_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name):
        raise ValueError(f"expected 1 to 40 letters, digits, - or _, got {name!r}")
    return name


OutputName = Annotated[StrictStr, AfterValidator(_output_name)]


class StreamOutputSettings(Settings):
    """One stream output: its own size, rate cap, overlays and JPEG quality."""

    name: OutputName = Field("main", description="the output's name (?output=NAME on the stream routes)")
    width: StrictInt = Field(
        0,
        ge=0,
        le=7680,
        description="width in pixels; 0 (with height 0): the size the sinks get (upscale, else the display canvas)",
    )
    height: StrictInt = Field(
        0,
        ge=0,
        le=4320,
        description="height in pixels; 0 (with width 0): the size the sinks get",
    )
    max_fps: StrictFloat = Field(30.0, ge=0, le=240, description="frames a second at most (0: every shown frame)")
    overlays: StrictBool = Field(False, description="draw the join hint and stats overlays on this output too")
    jpeg_quality: StrictInt = Field(80, ge=1, le=100, description="JPEG quality of MJPEG and the JPEG websocket")

    @model_validator(mode="after")
    def _both_or_neither(self) -> StreamOutputSettings:
        if (self.width == 0) != (self.height == 0):
            raise related(
                "height" if self.width else "width", "width and height both > 0, or both 0 (the display's size)"
            )
        return self

    def spec(self) -> OutputSpec:
        """The engine's description of this output."""
        return OutputSpec(self.name, self.width, self.height, self.max_fps, self.overlays, self.jpeg_quality)


class StreamsSettings(Settings):
    """The live picture as streams on the visitor port: MJPEG, JPEG over a websocket (and /xr, WebRTC)."""

    enabled: StrictBool = Field(
        False, description="serve the live picture as streams (off by default: the camera sees visitors)"
    )
    outputs: tuple[StreamOutputSettings, ...] = Field(
        (StreamOutputSettings(),),
        description="the stream outputs (at least one); the first is served when a client names none",
    )
    max_viewers: StrictInt = Field(20, ge=1, le=1000, description="stream viewers at once, all outputs and kinds")
    mjpeg: StrictBool = Field(True, description="GET /stream.mjpg: multipart MJPEG for VLC, OBS, TouchDesigner")
    jpeg_ws: StrictBool = Field(True, description="/stream/ws: JPEG frames over a websocket (browsers)")
    xr: StrictBool = Field(True, description="serve the WebXR viewer at /xr (when this build has the page)")
    xr_output: OutputName | Literal[""] = Field(
        "", description='the output the /xr viewer shows ("": the first output)'
    )
    join_page: Literal["visitor", "xr"] = Field(
        "visitor", description="where the join hint's QR code points: the visitor page or the /xr viewer"
    )
    send_timeout_s: StrictFloat = Field(
        10.0, gt=0, le=600, description="a stream client that takes nothing for this long is closed"
    )
    webrtc: WebRtcSettings = Field(WebRtcSettings(), description="WebRTC viewers (/rtc signalling; the [xr] extra)")

    @field_validator("outputs")
    @classmethod
    def _distinct(cls, outputs: tuple[StreamOutputSettings, ...]) -> tuple[StreamOutputSettings, ...]:
        if not outputs:
            raise ValueError("expected at least one output")
        names = [o.name for o in outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"expected distinct output names, got {names}")
        return outputs

    @field_validator("xr_output")
    @classmethod
    def _known_output(cls, name: str, info) -> str:  # type: ignore[no-untyped-def]
        names = [o.name for o in info.data.get("outputs", ())]
        if name and name not in names:
            raise ValueError(f'one of the outputs {names}, or "" for the first; got {name!r}')
        return name

    def specs(self, default_size: tuple[int, int]) -> list[OutputSpec]:
        """The outputs for the engine, a size of 0 meaning ``default_size`` (the size the sinks get)."""
        w, h = default_size
        return [
            o.spec() if o.width else OutputSpec(o.name, w, h, o.max_fps, o.overlays, o.jpeg_quality)
            for o in self.outputs
        ]
