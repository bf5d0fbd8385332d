"""Settings of WebRTC viewers of the live picture (config section ``streams.webrtc``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from installation.config.base import Settings, related


class IceServerSettings(Settings):
    """One STUN or TURN server handed to the show's peer connections (none by default: loopback and LAN only)."""

    urls: tuple[StrictStr, ...] = Field((), description="stun:host:port or turn:host:port URLs (at least one)")
    username: StrictStr = Field("", description="TURN user name ('' for STUN)")
    credential: StrictStr = Field("", description="TURN password ('' for STUN)")

    @model_validator(mode="after")
    def _has_urls(self) -> IceServerSettings:
        if not self.urls or not all(u.startswith(("stun:", "turn:", "turns:")) for u in self.urls):
            raise related("urls", "at least one stun:, turn: or turns: URL")
        return self


class WebRtcSettings(Settings):
    """WebRTC video of a stream output, signalled over the ``/rtc`` websocket on the visitor port (aiortc)."""

    enabled: StrictBool = Field(
        True, description="answer WebRTC offers on /rtc when streams are on (needs the [xr] extra: aiortc)"
    )
    codec: Literal["vp8", "h264"] = Field("vp8", description="the video codec offered first (VP8 or H.264)")
    bitrate_kbps: StrictInt = Field(
        4000, ge=100, le=100_000, description="each viewer's starting video bitrate in kbit/s (aiortc's own: 500)"
    )
    min_bitrate_kbps: StrictInt = Field(
        1000, ge=50, le=100_000, description="the lowest bitrate congestion control may go down to, kbit/s"
    )
    max_bitrate_kbps: StrictInt = Field(
        8000, ge=100, le=100_000, description="the highest bitrate congestion control may go up to, kbit/s"
    )
    max_viewers: StrictInt = Field(
        4, ge=1, le=100, description="WebRTC viewers at once (each has its own encoder: CPU per viewer)"
    )
    ice_servers: tuple[IceServerSettings, ...] = Field(
        (), description="STUN/TURN servers for sites that need them; none by default (no public STUN)"
    )
    connect_timeout_s: StrictFloat = Field(
        20.0, gt=0, le=300, description="a peer that has not connected this long after its answer is closed"
    )

    @model_validator(mode="after")
    def _ordered(self) -> WebRtcSettings:
        if not self.min_bitrate_kbps <= self.bitrate_kbps <= self.max_bitrate_kbps:
            raise related("bitrate_kbps", "min_bitrate_kbps <= bitrate_kbps <= max_bitrate_kbps")
        return self
