"""Which web pages may open the show's websockets, without sockets: the ``Origin`` check.

A browser sends ``Origin`` with every websocket handshake; a page on another site could otherwise
open ``/ws`` from a visitor's browser (cross-site websocket hijacking; see the OWASP WebSocket
cheat sheet). ``OriginPolicy.allows(origin, host)`` accepts, by default, only the show's own
origins:

- the address the show hands out (``public_url``, else this machine's address and port);
- the address the request came to (``scheme://Host``), when that Host is an IP address or a
  loopback name, so a phone that typed the address and a kiosk browser on ``127.0.0.1`` work. A Host
  that is some other domain name counts only as ``public_url``'s, so a DNS-rebinding page cannot
  pass as the show;
- ``localhost``, ``127.0.0.1`` and ``[::1]`` on the show's port;
- any origin listed in ``server.origins``; ``"*"`` there accepts every origin (the old behaviour).

A handshake without ``Origin`` (a non-browser client: the tests, a kiosk app, OSC bridges) is
accepted: the header is a browser's promise, not an authentication.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

ANY = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None for anything that is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query or parts.username:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _is_ip_or_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class OriginPolicy:
    """``allows(origin, host)``; see the module docstring. ``own_url`` and ``port`` are read at each check
    (the port is known only once the server listens)."""

    def __init__(
        self,
        extra: Iterable[str] = (),
        own_url: Callable[[], str] = lambda: "",
        port: Callable[[], int | None] = lambda: None,
        secure: bool = False,
    ) -> None:
        extra = tuple(extra)
        self.any = ANY in extra
        self.extra = frozenset(n for n in (normalise(o) for o in extra if o != ANY) if n)
        self.own_url = own_url
        self.port = port
        self.scheme = "https" if secure else "http"

    def own(self, host: str | None = None) -> set[str]:
        """The origins that count as the show's own for a request that came to ``host``."""
        own = set(self.extra)
        url = normalise(self.own_url())
        if url:
            own.add(url)
        port = self.port()
        if port:
            for name in ("localhost", "127.0.0.1", "[::1]"):
                own.add(normalise(f"{self.scheme}://{name}:{port}") or "")
        if host and _is_ip_or_loopback(urlsplit(f"//{host}").hostname or ""):
            came_to = normalise(f"{self.scheme}://{host}")
            if came_to:
                own.add(came_to)
        own.discard("")
        return own

    def allows(self, origin: str | None, host: str | None = None) -> bool:
        if origin is None or self.any:
            return True
        given = normalise(origin)
        return given is not None and given in self.own(host)
