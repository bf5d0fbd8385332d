"""Settings of the output size and how the stylised picture gets there (config section ``upscale``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from installation.config.base import Settings

OutputWidth = Annotated[StrictInt, Field(ge=0, le=7680)]
OutputHeight = Annotated[StrictInt, Field(ge=0, le=4320)]


class UpscaleSettings(Settings):
    """The size the sinks receive, and how the working-size picture is enlarged to it."""

    width: OutputWidth = Field(0, description="output width in pixels; 0: the display's width")
    height: OutputHeight = Field(0, description="output height in pixels; 0: the display's height")
    method: Literal["resize", "guided"] = Field(
        "resize",
        description="resize: bilinear (soft); guided: edges from the source captured at the output size "
        "(fast guided filter; the source is then delivered at the output size)",
    )
    form: Literal["detail", "filter"] = Field(
        "detail",
        description="guided: detail adds the source's fine detail to the stylised picture as it is (keeps the "
        "style's strokes); filter is the fast guided filter as published (smooths the strokes)",
    )
    detail: StrictFloat = Field(
        2.0, ge=0, le=8, description="guided detail: how strongly the source's fine detail is added (0: a resize)"
    )
    radius: StrictInt = Field(4, ge=1, le=16, description="guided: window radius in working-size pixels")
    eps: StrictFloat = Field(
        1e-3, gt=0, le=1, description="guided: smoothing (a variance, colours in 0..1); larger keeps less source detail"
    )
    guide: Literal["rgb", "luma"] = Field(
        "luma",
        description="guided: fit each colour against the same colour of the source (rgb), or use its brightness "
        "(luma: one gain, the brightness detail added to all three colours; as sharp, 3/4 of the time)",
    )
    device: StrictStr = Field(
        "cpu", description="guided: cpu (OpenCV), or a torch device (cuda, cuda:1) for the GPU path"
    )
