"""Settings of the show's bus (config section ``bus``): one process, or a hub and render nodes on Redis."""

from __future__ import annotations

import os
import re
from typing import Literal, NamedTuple

from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator

from installation.config.base import PathText, Settings

URL_ENV = "LATERNA_BUS_URL"  # overrides bus.url, so one set of files serves every site
PASSWORD_ENV = "LATERNA_BUS_PASSWORD"  # the Redis password when no password_file is named
TLS_ENV = {
    "ca": "LATERNA_BUS_TLS_CA",
    "cert": "LATERNA_BUS_TLS_CERT",
    "key": "LATERNA_BUS_TLS_KEY",
}  # override bus.tls_*


class TlsFiles(NamedTuple):
    """The TLS files in effect (environment over config); "" where none is named."""

    ca: str
    cert: str
    key: str


class BusSettings(Settings):
    """Where the show's decisions travel: in-process (no url: one machine, as always) or through Redis."""

    url: StrictStr = Field(
        "", description="redis://host:6379/0 (rediss:// for TLS, unix:///path.sock); empty: one process, no Redis"
    )
    role: Literal["hub", "node", "both"] = Field(
        "both", description="hub: visitors, Director, operator, no frame loop; node: renders what the hub decides"
    )
    zone: StrictStr = Field("main", description="the room or zone this node shows (heartbeats, operator panel)")
    node: StrictStr = Field("", description="this node's name on the panel (empty: the host name and the zone)")
    password_file: PathText = Field(
        "", description=f"a file holding the Redis password (else ${PASSWORD_ENV}); never logged"
    )
    username: StrictStr = Field("", description="Redis ACL user (empty: the default user)")
    tls_ca: PathText = Field(
        "",
        description=f"CA file that signed the Redis server's TLS certificate (rediss://; else the system's CAs; "
        f"${TLS_ENV['ca']} overrides)",
    )
    tls_cert: PathText = Field(
        "", description=f"client certificate, where Redis asks for one (--tls-auth-clients; ${TLS_ENV['cert']})"
    )
    tls_key: PathText = Field("", description=f"the client certificate's key (${TLS_ENV['key']})")
    hub_gone_s: StrictFloat = Field(
        10.0, gt=0, description="no word from the hub for this long: a node goes to its own attract mode"
    )
    heartbeat_s: StrictFloat = Field(1.0, gt=0, le=5, description="how often nodes say they are alive")
    node_gone_s: StrictFloat = Field(4.0, gt=0, le=30, description="a node silent this long is shown gone (red)")
    state_hz: StrictFloat = Field(5.0, gt=0, le=50, description="full-state broadcasts per second")
    timeout_s: StrictFloat = Field(1.0, gt=0, le=10, description="a Redis call gives up after this long")
    preview_kb: StrictInt = Field(24, ge=0, le=512, description="a node's preview JPEG is at most this big (0: none)")
    preview_every_s: StrictFloat = Field(2.0, gt=0, description="how often a node sends its preview")
    prefix: StrictStr = Field("laterna", description="prefix of every Redis key, so shows can share one Redis")

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if url and not re.match(r"^(redis|rediss|unix)://", url):
            raise ValueError("expected a redis://, rediss:// or unix:// URL, or nothing")
        return url

    def effective_url(self) -> str:
        """``$LATERNA_BUS_URL`` if set, else ``url`` ("" = the in-process bus)."""
        return os.environ.get(URL_ENV, "").strip() or self.url

    def tls_files(self) -> TlsFiles:
        """``$LATERNA_BUS_TLS_CA`` / ``_CERT`` / ``_KEY`` where set, else ``tls_ca`` / ``tls_cert`` / ``tls_key``."""
        env = {k: os.environ.get(v, "").strip() for k, v in TLS_ENV.items()}
        return TlsFiles(env["ca"] or self.tls_ca, env["cert"] or self.tls_cert, env["key"] or self.tls_key)


def redact(url: str) -> str:
    """The URL with any password (before the host's last ``@``, or ``?password=``) replaced by ``***``."""
    url = re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)
