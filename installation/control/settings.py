"""Settings of unattended operation and OSC (config sections ``attract``, ``hours`` and ``osc``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from engine.errors import ConfigError
from installation.config.base import PathText, Settings, related


class AttractSettings(Settings):
    """Nobody prompting for a while: the show wanders through the styles by itself."""

    enabled: StrictBool = Field(True, description="wander when idle")
    idle_s: StrictFloat = Field(90.0, gt=0, description="no prompt for this long -> wander")
    every_s: StrictFloat = Field(25.0, gt=0, description="a new destination this often")
    transition_s: StrictFloat = Field(10.0, ge=0, description="glide time between destinations")
    max_styles: StrictInt = Field(2, ge=1, description="destinations mix at most this many styles")
    source: Literal["live", "generator"] = Field(
        "live", description="generator: an empty room crossfades to the GAN's dream (needs a restart to change)"
    )


class HoursSettings(Settings):
    """Opening hours: outside them the projection blacks out (or shows a slide) with inference paused."""

    schedule: dict[str, StrictStr] = Field(
        default_factory=dict, description="days -> hours, like {mon-fri: '10:00-18:00'}; empty: always open"
    )
    outside: Literal["blackout", "slide"] = Field("blackout", description="what the projection shows when closed")
    slide: PathText = Field("", description="the image shown when closed, for outside: slide")

    @field_validator("schedule")
    @classmethod
    def _parses(cls, schedule: dict[str, str]) -> dict[str, str]:
        from installation.control.schedule import OpeningHours

        try:
            OpeningHours(schedule)
        except ConfigError as exc:
            raise ValueError(f"expected days: hours like mon-fri: '10:00-18:00' ({exc})") from None
        return schedule

    @model_validator(mode="after")
    def _slide(self) -> HoursSettings:
        if self.outside == "slide" and not self.slide:
            raise related("slide", "an image file for outside: slide")
        return self


class OscSettings(Settings):
    """Open Sound Control in (a lighting desk, QLab, TouchOSC) and state out."""

    enabled: StrictBool = Field(False, description="listen for OSC commands")
    port: StrictInt = Field(9000, ge=0, le=65535, description="UDP port for OSC commands (0: any free port)")
    feedback_host: StrictStr = Field("", description="send state out to this address (empty: off)")
    feedback_port: StrictInt = Field(9001, ge=1, le=65535, description="UDP port at feedback_host")
