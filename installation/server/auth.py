"""Who may use the operator routes, without sockets: one shared token, compared in constant time.

A client presents the token as ``Authorization: Bearer <token>`` or, where it cannot set headers
(a browser's ``new WebSocket``), as a ``token`` query parameter. The query is
only looked at where the caller allows it (``check(..., query=True)``): the router allows it on the
websocket upgrades only, never on the panel's page, its JSON state, the preview or /metrics. The
header wins when both are given. ``OperatorAuth.check`` says ``OK``, ``MISSING`` (-> 401), ``WRONG`` (-> 403) or
``DISABLED`` (no token configured: every operator route is 403).

The token is never logged. ``RedactingLogger`` wraps the websockets wire logger so that even its
DEBUG lines (request line and headers) show ``[redacted]`` for the token, ``Authorization`` values
and ``token=`` query values, judged after percent-decoding (``?%74oken=...`` is a ``token``).
"""

from __future__ import annotations

import enum
import hmac
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qs, unquote_plus, urlsplit

from engine.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_ENV = "LATERNA_OPERATOR_TOKEN"
TOKEN_PARAM = "token"
MIN_GOOD_LENGTH = 16
REDACTED = "[redacted]"


class Access(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials: 401 with WWW-Authenticate: Bearer
    WRONG = "wrong"  # credentials that do not match: 403
    DISABLED = "disabled"  # no token configured: 403, operator controls are off


class OperatorAuth:
    """``check(authorization_headers, target)`` -> ``Access``. ``token`` None or "": operator routes off."""

    def __init__(self, token: str | None) -> None:
        if token is not None and not isinstance(token, str):
            raise ConfigError(f"{TOKEN_ENV}: expected text, got {type(token).__name__}")
        token = token or None
        if token is not None:
            if any(c.isspace() or not c.isprintable() for c in token) or not token.isascii():
                # never echo it: say what is wrong with it, not what it is
                raise ConfigError(
                    f"{TOKEN_ENV}: expected printable ASCII without spaces "
                    "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
                )
            if len(token) < MIN_GOOD_LENGTH:
                log.warning(
                    "%s is only %d characters; use %d or more (secrets.token_urlsafe(24))",
                    TOKEN_ENV,
                    len(token),
                    MIN_GOOD_LENGTH,
                )
        self._token = token.encode("ascii") if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def matches(self, given: str) -> bool:
        """Constant-time comparison of ``given`` with the token."""
        return self._token is not None and hmac.compare_digest(given.encode("utf-8", "replace"), self._token)

    def check(self, authorization: Iterable[str], target: str, query: bool = True) -> Access:
        """``query``: whether a ``token`` query parameter counts (False: only the Authorization header)."""
        if self._token is None:
            return Access.DISABLED
        given = presented_token(list(authorization), target if query else urlsplit(target).path)
        if given is None:
            return Access.MISSING
        return Access.OK if self.matches(given) else Access.WRONG

    def redactor(self) -> Redactor:
        return Redactor(self._token.decode("ascii") if self._token else None)

    def __repr__(self) -> str:
        return f"OperatorAuth(enabled={self.enabled})"


def presented_token(authorization: list[str], target: str) -> str | None:
    """The token a request offers: the Bearer credentials, else the ``token`` query value; None if neither.

    More than one Authorization header, or a scheme other than Bearer, offers nothing; more than one
    ``token`` value offers an empty (wrong) one.
    """
    if authorization:
        if len(authorization) != 1:
            return None
        scheme, _, credentials = authorization[0].strip().partition(" ")
        credentials = credentials.strip()
        return credentials if scheme.lower() == "bearer" and credentials else None
    values = parse_qs(urlsplit(target).query, keep_blank_values=True).get(TOKEN_PARAM)
    if not values:
        return None
    if len(values) != 1:
        return ""
    return values[0] or None


_AUTHORIZATION = re.compile(r"(?i)(authorization\s*:\s*)\S.*")
_QUERY_PAIR = re.compile(r"([?&;])([^=&#;\s]*)=([^&#;\s]*)")


class Redactor:
    """Takes the token, ``Authorization`` values and ``token=`` query values out of a text."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def __call__(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, REDACTED)
        text = _AUTHORIZATION.sub(r"\1" + REDACTED, text)
        return _QUERY_PAIR.sub(self._pair, text)

    def _pair(self, match: re.Match[str]) -> str:
        """One ``name=value`` of a query: the value is redacted when the name, decoded, is ``token`` or
        the value, decoded, is the token (the server decodes both before it compares)."""
        sep, name, value = match.groups()
        if unquote_plus(name).strip().lower() == TOKEN_PARAM or (self.token and self.token in unquote_plus(value)):
            return f"{sep}{name}={REDACTED}"
        return match.group(0)


class RedactingLogger(logging.LoggerAdapter):
    """A logger for websockets (``serve(logger=...)``) whose every line goes through a ``Redactor``.
    With ``quiet``, its lines below WARNING (websockets logs each connection at INFO) go out at DEBUG."""

    def __init__(self, logger: logging.Logger, redact: Redactor, quiet: bool = False) -> None:
        super().__init__(logger, {})
        self.redact = redact
        self.quiet = quiet

    def log(self, level: int, msg: object, *args: object, **kwargs) -> None:
        if self.quiet and level < logging.WARNING:
            level = logging.DEBUG
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(map(str, (msg, *args)))
        self.logger.log(level, "%s", self.redact(text), **kwargs)
