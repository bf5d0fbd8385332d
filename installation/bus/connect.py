"""How a process reaches the show's Redis: the client's options (ACL user, password, TLS files) and, when
Redis says no, what to tell the operator.

The password comes from ``bus.password_file``, else ``$LATERNA_BUS_PASSWORD``, else the URL itself; it
is read again at every (re)connect, so fixing the file or the variable mends a running show. It is never
put in a message: every URL shown goes through ``redact``, and ``explain`` names where the password came
from, never what it is. ``check`` runs once at start-up: a named file that is missing or unreadable, or
TLS files for a URL that is not ``rediss://``, is a ``ConfigError`` before anything starts.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from installation.bus.settings import PASSWORD_ENV, BusSettings, TlsFiles


def password(settings: BusSettings) -> str:
    """The Redis password from ``bus.password_file``, else ``$LATERNA_BUS_PASSWORD`` ("" if neither)."""
    if settings.password_file:
        try:
            return Path(settings.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"bus.password_file {settings.password_file} cannot be read ({exc.strerror})") from None
    return os.environ.get(PASSWORD_ENV, "")


def check(settings: BusSettings, url: str) -> None:
    """Start-up checks of the security settings (ConfigError naming the key); reads nothing secret into logs."""
    password(settings)  # a password file that cannot be read says so now, not at every reconnect
    tls = settings.tls_files()
    named = [(key, path) for key, path in (("tls_ca", tls.ca), ("tls_cert", tls.cert), ("tls_key", tls.key)) if path]
    if named and not url.startswith("rediss://"):
        raise ConfigError(
            f"bus.{named[0][0]} is set but the bus URL is not rediss://: Redis would be spoken to in plain text"
        )
    if tls.key and not tls.cert:
        raise ConfigError("bus.tls_key is set without bus.tls_cert: a client key needs its certificate")
    for key, path in named:
        if not Path(path).is_file():
            raise ConfigError(f"bus.{key}: {path} is not a file")


def client_options(settings: BusSettings, url: str) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` beyond timeouts: user, password, TLS files."""
    options: dict[str, Any] = {}
    secret = password(settings)
    if secret:
        options["password"] = secret
    if settings.username:
        options["username"] = settings.username
    if url.startswith("rediss://"):
        tls = settings.tls_files()
        options["ssl_cert_reqs"] = "required"  # always check the server, with tls_ca or the system's CAs
        options["ssl_check_hostname"] = True  # and the name in its certificate (redis-py 5 did not by default)
        if tls.ca:
            options["ssl_ca_certs"] = tls.ca
        if tls.cert:
            options["ssl_certfile"], options["ssl_keyfile"] = tls.cert, tls.key or None
    return options


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def explain(exc: BaseException, where: str, settings: BusSettings) -> str:
    """One line for the operator: what went wrong reaching Redis at ``where`` and which setting to look at."""
    from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError

    if isinstance(exc, ConfigError):
        return f"bus: {exc}; retrying"
    text = f"{type(exc).__name__}: {exc}"
    chain = _chain(exc)
    if any(isinstance(e, AuthenticationError) for e in chain) or "WRONGPASS" in text:
        source = (
            f"bus.password_file {settings.password_file}"
            if settings.password_file
            else (f"${PASSWORD_ENV}" if os.environ.get(PASSWORD_ENV) else "the URL")
        )
        user = settings.username or "the URL's user, else default"
        return (
            f"bus: Redis at {where} refused the user and password (user: {user}; password from {source}); "
            "retrying, and reading the password again each time"
        )
    if any(isinstance(e, (NoPermissionError, AuthorizationError)) for e in chain) or "NOPERM" in text:
        return f"bus: the Redis user at {where} may not do what Laterna needs ({exc}); give it ~<prefix>:* &* +@all"
    tls = settings.tls_files()
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "CERTIFICATE_VERIFY_FAILED" in text:
        trust = f"bus.tls_ca {tls.ca}" if tls.ca else "the system's CAs (bus.tls_ca is not set)"
        return f"bus: the TLS certificate of Redis at {where} is not trusted by {trust} ({exc}); retrying"
    if "CERTIFICATE_REQUIRED" in text or "certificate required" in text:
        return (
            f"bus: Redis at {where} asks for a client certificate: set bus.tls_cert and bus.tls_key "
            f"(or $LATERNA_BUS_TLS_CERT / $LATERNA_BUS_TLS_KEY); retrying"
        )
    dropped = any(isinstance(e, (ConnectionResetError, ssl.SSLEOFError)) for e in chain) or any(
        words in text for words in ("Connection reset", "EOF occurred", "UNEXPECTED_EOF", "Connection closed by server")
    )
    if where.startswith("rediss://") and not tls.cert and dropped:
        # TLS 1.3: a server that wants a client certificate may just drop the connection after the handshake
        return (
            f"bus: Redis at {where} closed the TLS connection ({text}); if it asks for a client certificate "
            "(tls-auth-clients), set bus.tls_cert and bus.tls_key; retrying"
        )
    if any(isinstance(e, ssl.SSLError) for e in chain) or "[SSL" in text:
        return f"bus: TLS with Redis at {where} failed ({text}); is it a TLS port (rediss://)? retrying"
    return f"bus: Redis at {where} is unreachable ({text}); retrying"


__all__ = ["TlsFiles", "check", "client_options", "explain", "password"]
