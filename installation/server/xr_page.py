"""The HTTP half of the WebXR viewer, without sockets: ``GET /xr``, what the page may connect to, and
the vendored three.js it runs on.

``/xr`` is ``web/xr.html`` (title filled in). Its own scripts and style (``xr.js``, ``xr-*.js``,
``xr.css``, and the prompt box it shares with the visitor page, ``prompt-box.js``) are ordinary visitor
assets under ``/static/`` (``visitor_page``). This module adds:

- ``/xr/offer.json``: which live-picture transports this show offers the page (WebRTC signalling at
  ``/rtc``, the JPEG websocket, the output's name and size), so the page never tries a route that is
  not there (a refused websocket is an error in the visitor's console);
- ``/static/vendor/...``: third-party files checked in under ``web/vendor/`` (three.js), read once
  into the route table like every other file, served with their MIME type (``.js`` is
  ``text/javascript``: browsers refuse ES modules served as anything else).

The page's headers are the visitor page's, plus a Permissions-Policy that allows WebXR
(``xr-spatial-tracking``) and the motion sensors of the magic window on this origin only.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from engine.errors import ConfigError
from installation.server.visitor_page import (
    CONTENT_TYPES,
    SECURITY_HEADERS,
    WEB_ROOT,
    HttpReply,
    http_reply,
    json_bytes,
    text_reply,
)

log = logging.getLogger(__name__)

PAGE_PATH = "/xr"
OFFER_PATH = "/xr/offer.json"
VENDOR_PREFIX = "/static/vendor/"
PAGE_FILE = "xr.html"
VENDOR_DIR = "vendor"

XR_PERMISSIONS = (
    "Permissions-Policy",
    "xr-spatial-tracking=(self), microphone=(self), accelerometer=(self), gyroscope=(self), "
    "magnetometer=(self), camera=(), geolocation=()",
)
XR_SECURITY = tuple(h for h in SECURITY_HEADERS if h[0] != "Permissions-Policy") + (XR_PERMISSIONS,)

# What the page is told when the show has no stream configured: nothing to connect to, said plainly.
NO_OFFER: dict = {"rtc": None, "jpeg": None, "output": None, "width": None, "height": None}


class XrPage:
    """The WebXR viewer's routes; see the module docstring.

    ``offer`` returns the transports on offer as a dict: ``rtc`` (the signalling websocket's path, or
    None), ``jpeg`` (the JPEG websocket's path, or None), ``output`` (the fan-out output's name),
    ``width``/``height`` (its size). It is asked on every request, so it may follow the live config.
    """

    def __init__(
        self, title: str = "Laterna", web_root: str | Path = WEB_ROOT, offer: Callable[[], dict] | None = None
    ) -> None:
        self.web_root = Path(web_root)
        self.offer = offer or (lambda: dict(NO_OFFER))
        self._routes = self._load(title)

    def _load(self, title: str) -> dict[str, tuple[str, bytes]]:
        page = self.web_root / PAGE_FILE
        if not page.is_file():
            raise ConfigError(f"{page}: the WebXR viewer page is missing")
        routes = {
            PAGE_PATH: (CONTENT_TYPES[".html"], page.read_bytes().replace(b"{{title}}", html.escape(title).encode()))
        }
        vendor = self.web_root / VENDOR_DIR
        for path in sorted(vendor.rglob("*")) if vendor.is_dir() else ():
            kind = CONTENT_TYPES.get(path.suffix.lower())
            if path.is_file() and kind is not None and not any(p.startswith(".") for p in path.parts):
                routes[VENDOR_PREFIX + path.relative_to(vendor).as_posix()] = (kind, path.read_bytes())
        return routes

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._routes) + (OFFER_PATH,)

    def reply(self, method: str, target: str) -> HttpReply:
        path = urlsplit(target).path
        if method != "GET":
            return text_reply(405, "Only GET is served here.", ("Allow", "GET"))
        if path == OFFER_PATH:
            return self._offer()
        if path in self._routes:
            kind, body = self._routes[path]
            return http_reply(200, kind, body, security=XR_SECURITY if path == PAGE_PATH else SECURITY_HEADERS)
        return text_reply(404, "Not found.")

    def _offer(self) -> HttpReply:
        try:
            offer = {**NO_OFFER, **self.offer()}
            body = json_bytes(offer)
        except Exception:  # the offer comes from the stream config's owner: say so, keep serving
            log.exception("the WebXR viewer's offer could not be read")
            return text_reply(500, "The live picture's settings are not available right now.")
        return http_reply(200, "application/json", body, cache="no-store")
