"""Settings of NDI out and NDI discovery (config section ``ndi``; NDI in is ``source.type: ndi``)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, StrictBool, StrictStr, field_validator

from installation.config.base import PathText, Settings


class NdiSettings(Settings):
    """NDI: a stream output sent as an NDI source, and discovery on networks without mDNS (the [ndi] extra)."""

    send: StrictBool = Field(False, description="send a stream output as an NDI source (needs streams.enabled)")
    name: StrictStr = Field("Laterna", min_length=1, max_length=60, description="this show's NDI source name")
    output: StrictStr = Field("", description="the stream output to send ('' : the first in streams.outputs)")
    ips: tuple[StrictStr, ...] = Field(
        (),
        description="unicast discovery: IP addresses of the machines that send or receive NDI with this one "
        "(no mDNS needed); empty: NDI's own mDNS discovery",
    )
    config_dir: PathText = Field(
        "runs/ndi", description="where Laterna writes the NDI config (ndi-config.v1.json) when ips are given"
    )

    @field_validator("ips")
    @classmethod
    def _addresses(cls, ips: tuple[str, ...]) -> tuple[str, ...]:
        for ip in ips:
            ipaddress.ip_address(ip)  # ValueError names the bad one
        return ips
