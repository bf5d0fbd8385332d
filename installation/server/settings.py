"""Settings of the visitor/operator server, the operator panel and the kiosk browser (config sections
``server``, ``operator`` and ``kiosk``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from installation.config.base import PathText, Settings, related
from installation.server.protocol import ProtocolLimits

Port = Annotated[StrictInt, Field(ge=0, le=65535)]
Positive = Annotated[StrictFloat, Field(gt=0)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]


class ServerSettings(Settings):
    """The one port that serves the visitor page, its websocket, the status and the operator panel."""

    enabled: StrictBool = Field(True, description="serve the visitor page and prompts (false: the picture only)")
    host: StrictStr = Field("0.0.0.0", description="address to listen on (127.0.0.1: this machine only)")
    port: Port = Field(8765, description="TCP port for visitors and the operator (0: any free port)")
    public_url: StrictStr = Field("", description="the address visitors type or scan; empty: this machine's address")
    join_hint: StrictBool = Field(True, description="show the page's address and a QR code on the projection")
    page_title: StrictStr = Field("", description="title of the visitor and operator pages; empty: 'Laterna — <name>'")
    join_text: StrictStr = Field(
        "Paint this room with words:",
        description="the join hint's caption above the address, in the visitors' language (empty: the address only)",
    )
    join_position: Literal[
        "top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"
    ] = Field("bottom-right", description="where the join hint is on the wall")
    join_text_px: StrictInt = Field(
        0, ge=0, le=400, description="the join hint's text height in window pixels; 0: 1/28 of the window's height"
    )
    max_connections: PositiveInt = Field(200, description="visitor connections open at once, in all")
    max_connections_per_address: PositiveInt = Field(
        8,
        description="visitor connections from one address (a venue's shared Wi-Fi may need more); "
        "max_connections still caps the total",
    )
    idle_timeout_s: Positive = Field(
        300.0, description="visitors with nothing pending who say nothing this long are closed"
    )
    origins: tuple[Annotated[StrictStr, Field(min_length=1)], ...] = Field(
        (),
        description="Origin headers allowed for the websockets beside the show's own, like "
        "'http://kiosk.local:8765'; '*': any (see docs/protocol.md)",
    )
    log_addresses: StrictBool = Field(False, description="log client addresses (privacy: off by default)")
    resume_grace_s: StrictFloat = Field(
        120.0, ge=0, le=3600, description="a dropped visitor's waiting prompt is kept this long for them (0: off)"
    )
    max_kept_places: StrictInt = Field(
        16, ge=0, description="dropped visitors' waiting prompts kept at once (oldest go first)"
    )
    max_kept_places_per_address: StrictInt = Field(2, ge=0, description="... and kept at once from one address")
    settle_s: StrictFloat = Field(
        8.0,
        ge=0,
        le=600,
        description="a visitor counts as a newcomer this long after connecting (see director.newcomer_*; 0: never)",
    )
    tls_cert: PathText = Field(
        "", description="PEM certificate (chain): https/wss, which phones need for the microphone; give tls_key too"
    )
    tls_key: PathText = Field("", description="the PEM key of tls_cert")
    max_message_bytes: StrictInt = Field(4096, ge=64, description="largest visitor message accepted")
    max_prompt_chars: PositiveInt = Field(280, description="longest prompt accepted")
    rate_per_connection: Positive = Field(0.5, description="messages a second one visitor may send, sustained")
    burst_per_connection: PositiveInt = Field(5, description="messages one visitor may send at once")
    rate_per_address: Positive = Field(2.0, description="messages a second from one address, sustained")
    burst_per_address: PositiveInt = Field(20, description="messages at once from one address")
    http_rate_per_address: Positive = Field(
        10.0, description="plain GETs (page, assets, status, QR) a second from one address"
    )
    http_burst_per_address: PositiveInt = Field(40, description="plain GETs at once from one address")
    flood_warnings: StrictInt = Field(
        1, ge=0, description="'slow down' replies before a flood closes the connection (code 1008)"
    )
    send_timeout_s: Positive = Field(5.0, description="a visitor who cannot take a message this long is closed")
    metrics_public: StrictBool = Field(True, description="/metrics without the operator token (LAN scrapers)")
    max_operators: PositiveInt = Field(4, description="operator websockets open at once")
    state_interval_s: Positive = Field(0.5, description="how often an operator's panel gets the state and preview")

    @model_validator(mode="after")
    def _consistent(self) -> ServerSettings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise related("tls_key", "both tls_cert and tls_key (https) or neither (http)")
        return self

    def limits(self) -> ProtocolLimits:
        return ProtocolLimits(self.max_message_bytes, self.max_prompt_chars)


class OperatorSettings(Settings):
    """The operator panel's token and snapshots."""

    token_file: PathText = Field(
        "", description="a file holding the operator token; empty: $LATERNA_OPERATOR_TOKEN (never the config itself)"
    )
    snapshot_dir: PathText = Field("snapshots", description="where the panel's snapshots are saved")


class KioskSettings(Settings):
    """A local touchscreen showing the visitor page in a full-screen browser beside the projection."""

    browser: StrictBool = Field(False, description="open the visitor page full screen in a local browser")
    command: StrictStr = Field("chromium", description="the browser to start")
    window_x: StrictInt = Field(0, description="the touchscreen's x position on the desktop")
    window_y: StrictInt = Field(0, description="the touchscreen's y position on the desktop")
