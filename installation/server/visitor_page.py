"""The HTTP half of the visitor server, without sockets: which bytes answer ``GET /``, ``/static/...``,
``/status`` and ``/qr.svg``.

``VisitorPage.reply(method, target, host)`` returns an ``HttpReply`` (status, headers, body), or
``None`` for ``GET /ws`` (the websocket handshake goes on). Files are read once from
``installation/web/`` into a fixed route table, so no request path ever reaches the file system.
Files named ``operator*`` are the operator panel's (``operator_page``) and are not served here.
The QR code, drawn locally with segno, encodes the configured public address only.
"""

from __future__ import annotations

import html
import io
import ipaddress
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from engine.errors import ConfigError
from installation.bus.settings import ZONE_NAME

log = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).resolve().parent / "web"
WEBSOCKET_PATH = "/ws"
OPERATOR_FILES = "operator"  # files in web/ whose names start with this are not the visitor's

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

# Everything the page needs is served from here: no CDN, no inline script, nowhere else to connect.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "microphone=(self), camera=(), geolocation=()"),
)


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def http_reply(
    status: int,
    content_type: str,
    body: bytes,
    *extra: tuple[str, str],
    cache: str = "no-cache",
    security: tuple[tuple[str, str], ...] = SECURITY_HEADERS,
) -> HttpReply:
    """An answer with the headers every answer of this server carries (``security``: CSP and friends)."""
    headers = (
        (
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache),
            ("Connection", "close"),
        )
        + security
        + extra
    )
    return HttpReply(status, headers, body)


def text_reply(status: int, text: str, *extra: tuple[str, str]) -> HttpReply:
    body = (text.rstrip("\n") + "\n").encode()
    return http_reply(status, "text/plain; charset=utf-8", body, *extra, cache="no-store")


def json_bytes(value) -> bytes:
    """JSON that browsers can read: NaN/inf -> null, numpy values and tuples/sets as plain lists."""
    return json.dumps(_finite(value), default=_plain).encode()


def is_loopback(host: str) -> bool:
    """True for addresses a phone cannot use to reach this machine: loopback, unspecified, empty."""
    host = host.strip("[]")
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def qr_svg(url: str) -> bytes:
    """An SVG QR code for ``url``, drawn locally."""
    import segno  # imported here: only the QR route needs it

    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer,
        kind="svg",
        scale=8,
        border=2,
        dark="#14100b",
        light="#fff7e8",
        xmldecl=False,
        title="Scan to open the Laterna visitor page",
    )
    return buffer.getvalue()


class VisitorPage:
    """The route table of the visitor server's plain HTTP requests."""

    def __init__(
        self,
        title: str = "Laterna",
        web_root: str | Path = WEB_ROOT,
        status: Callable[[], dict] | None = None,
        public_url: str = "",
        default_url: Callable[[], str] | None = None,
        secure: bool = False,
    ) -> None:
        # secure: the server speaks https (TLS), so addresses it hands out start with https://
        self.web_root = Path(web_root)
        self.scheme = "https" if secure else "http"
        self.status = status or (lambda: {})
        self.public_url = public_url
        self.default_url = default_url or (lambda: "")
        self._routes: dict[str, tuple[str, bytes]] = self._load(title)
        self._qr_cache: dict[str, bytes] = {}

    def _load(self, title: str) -> dict[str, tuple[str, bytes]]:
        index = self.web_root / "index.html"
        if not index.is_file():
            raise ConfigError(f"{index}: the visitor page is missing")
        routes = {}
        for path in sorted(self.web_root.iterdir()):
            kind = CONTENT_TYPES.get(path.suffix.lower())
            if not path.is_file() or path.name.startswith((".", OPERATOR_FILES)) or kind is None:
                continue  # operator.* files are the operator panel's, served behind its token
            body = path.read_bytes()
            if path.name == "index.html":
                body = body.replace(b"{{title}}", html.escape(title).encode())
                routes["/"] = routes["/index.html"] = (kind, body)
            else:
                routes[f"/static/{path.name}"] = (kind, body)
        return routes

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._routes) + ("/status", "/qr.svg", WEBSOCKET_PATH)

    def page_url(self) -> str:
        """The address a phone should open: ``public_url``, else the server's own (this machine's LAN
        address and port). Never the request's Host header: anyone can send any Host, and the QR code
        on the wall must not be theirs to choose."""
        return self.public_url or self.default_url()

    def reply(self, method: str, target: str, host: str | None = None) -> HttpReply | None:
        path = urlsplit(target).path or "/"
        if method != "GET":
            return text_reply(405, "Only GET is served here.", ("Allow", "GET"))
        if path == WEBSOCKET_PATH:
            return None
        if path in self._routes:
            kind, body = self._routes[path]
            return http_reply(200, kind, body)
        if path == "/status":
            return self._status()
        if path == "/qr.svg":
            url = self.page_url()
            zone = parse_qs(urlsplit(target).query).get("zone", [""])[0]
            if zone:  # /qr.svg?zone=room-2: the code for one room's wall (a cluster hub's zones)
                if not ZONE_NAME.match(zone):
                    return text_reply(400, "A zone is named with lower-case letters, digits, - and _.")
                url += ("&" if "?" in url else "?") + urlencode({"zone": zone})
            if url not in self._qr_cache:
                if len(self._qr_cache) >= 32:  # one address per room is all a show needs
                    self._qr_cache.clear()
                self._qr_cache[url] = qr_svg(url)
            return http_reply(200, "image/svg+xml", self._qr_cache[url])
        return text_reply(404, "Not found.")

    def _status(self) -> HttpReply:
        try:
            body = json_bytes(self.status())
        except Exception:  # the status provider is someone else's code: say so, keep serving
            log.exception("the status provider failed")
            return text_reply(500, "Status is not available right now.")
        return http_reply(200, "application/json", body, cache="no-store")


def _finite(value):
    """NaN and infinities -> None, so browsers' JSON.parse can read the status."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plain(value):
    """JSON for numpy scalars/arrays and anything else a status provider may hand over."""
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
