"""The visitor protocol, without sockets: parse and validate messages, limit rates and connections.

Visitors send JSON text frames over the websocket at ``/ws``::

    {"type": "prompt", "text": "a harbour at dusk, in warm orange light"}
    {"type": "ping"}
    {"type": "resume", "token": "..."}   (the "resume" of an earlier "queued": a phone that dropped
                                          its connection keeps its waiting prompt)

and hear back one of::

    {"type": "queued", "id": "p7", "position": 3}
    {"type": "showing", "id": "p7", "text": "a harbour at dusk, in warm orange light"}
    {"type": "rejected", "reason": "..."}      the prompt itself was not accepted
    {"type": "error", "reason": "..."}         the message was not understood, or came too fast
    {"type": "pong"}
    {"type": "status", "accepting": false, "note": "closed", "opens_at": "2026-12-04T10:00", "text": "..."}
                                               the show itself: closed (prompts refused), warming_up or
                                               pinned (prompts wait), or note null: running

Everything here is pure: ``parse_message`` turns a frame into a ``PromptMessage`` or ``Ping`` or
raises ``ProtocolViolation``, which carries the reply to send and, when the connection must end,
the close code and reason. ``RateLimiter``, ``FloodGuard`` and ``ConnectionLimiter`` take an
injected clock and keys (connection ids, addresses) and never touch the network. See
docs/protocol.md for the whole contract.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError, EngineError

# -- close codes (RFC 6455 section 7.4.1) ---------------------------------------------------------
CLOSE_NORMAL = 1000  # also used when a visitor has been idle too long
CLOSE_UNSUPPORTED_DATA = 1003  # a binary frame
CLOSE_INVALID_DATA = 1007  # invalid UTF-8, or a text frame that is not JSON
CLOSE_POLICY_VIOLATION = 1008  # floods, a visitor too slow to read its replies
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011  # a fault on the server's side
CLOSE_TRY_AGAIN_LATER = 1013  # too many connections

# -- what visitors read (neutral, short, never echo what they sent) -------------------------------
REASON_BINARY = "This page only sends text."
REASON_UNREADABLE = "That message could not be read."
REASON_TOO_BIG = "That message is too long."
REASON_NOT_UNDERSTOOD = "That message was not understood."
REASON_EMPTY = "Type a few words first."
REASON_CONTROL = "That prompt contains characters that can't be shown."
REASON_SLOW_DOWN = "You're sending messages very quickly. Wait a moment, then try again."
REASON_FLOOD = "Too many messages."
REASON_BUSY = "The installation is busy right now. Please try again in a minute."
REASON_IDLE = "Closed after a quiet spell. Tap to reconnect."
REASON_INTERNAL = "Something went wrong on our side. Please try again."

SERVER_MESSAGE_TYPES = frozenset({"queued", "showing", "rejected", "error", "pong", "status"})

# Characters that may reorder or hide text on the wall (bidirectional overrides and isolates).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def reason_too_long(max_chars: int) -> str:
    return f"Keep it to {max_chars} characters or fewer."


@dataclass(frozen=True)
class ProtocolLimits:
    """How much a visitor may send. Checked by ``parse_message``."""

    max_message_bytes: int = 4096  # one websocket message, UTF-8 encoded
    max_prompt_chars: int = 280  # after whitespace normalisation, in code points

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_prompt_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ProtocolLimits.{name}: expected a whole number >= 1, got {value!r}")


@dataclass(frozen=True)
class PromptMessage:
    """A visitor's prompt, whitespace-normalised, NFC, within the limits."""

    text: str


@dataclass(frozen=True)
class Ping:
    """A visitor checking the connection; answered with ``pong()``."""


MAX_RESUME_TOKEN_CHARS = 64


@dataclass(frozen=True)
class Resume:
    """A visitor coming back after a dropped connection with the ``resume`` token of its last ``queued``."""

    token: str


class ProtocolViolation(EngineError):
    """A visitor's message broke the protocol: send ``reply``; close with ``close_code`` if it is set."""

    def __init__(self, reply: dict[str, Any], close_code: int | None = None, close_reason: str = "") -> None:
        super().__init__(reply.get("reason", reply.get("type", "protocol violation")))
        self.reply = reply
        self.close_code = close_code
        self.close_reason = close_reason or reply.get("reason", "")

    @property
    def closes(self) -> bool:
        return self.close_code is not None

    def __repr__(self) -> str:
        return f"ProtocolViolation({self.reply!r}, close_code={self.close_code!r})"


# -- server -> visitor messages -------------------------------------------------------------------
def queued(prompt_id: str, position: int) -> dict[str, Any]:
    return {"type": "queued", "id": prompt_id, "position": position}


def showing(prompt_id: str, text: str) -> dict[str, Any]:
    return {"type": "showing", "id": prompt_id, "text": text}


def rejected(reason: str) -> dict[str, Any]:
    return {"type": "rejected", "reason": reason}


def error(reason: str) -> dict[str, Any]:
    return {"type": "error", "reason": reason}


def pong() -> dict[str, Any]:
    return {"type": "pong"}


def encode(message: dict[str, Any]) -> str:
    """A server message as a compact JSON text frame. Raises ``TypeError``/``ValueError`` if it is not one."""
    if not isinstance(message, dict) or message.get("type") not in SERVER_MESSAGE_TYPES:
        raise ValueError(f"not a server message: {message!r}")
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# -- visitor -> server ----------------------------------------------------------------------------
def _violation(reason: str, close_code: int | None = None, kind: str = "error") -> ProtocolViolation:
    return ProtocolViolation({"type": kind, "reason": reason}, close_code)


def decode_text_frame(payload: bytes, limits: ProtocolLimits) -> str:
    """The payload of a text frame as ``str``; invalid UTF-8 -> 1007, too big -> 1009."""
    if len(payload) > limits.max_message_bytes:
        raise _violation(REASON_TOO_BIG, CLOSE_MESSAGE_TOO_BIG)
    try:
        return bytes(payload).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _violation(REASON_UNREADABLE, CLOSE_INVALID_DATA) from None


def parse_message(
    data: str | bytes, limits: ProtocolLimits = ProtocolLimits(), *, binary: bool | None = None
) -> PromptMessage | Ping | Resume:
    """One visitor message -> ``PromptMessage``, ``Ping`` or ``Resume``; anything else raises ``ProtocolViolation``.

    ``str`` is a text frame as websockets hands it over; ``bytes`` is a binary frame (refused, 1003)
    unless ``binary=False`` says it is the raw payload of a text frame, which is then decoded here.
    """
    if binary is None:
        binary = not isinstance(data, str)
    if binary:
        raise _violation(REASON_BINARY, CLOSE_UNSUPPORTED_DATA)
    if not isinstance(data, str):
        data = decode_text_frame(data, limits)
    if len(data) > limits.max_message_bytes or len(data.encode("utf-8", "surrogatepass")) > limits.max_message_bytes:
        raise _violation(REASON_TOO_BIG, CLOSE_MESSAGE_TOO_BIG)
    try:
        message = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is an over-long integer
        raise _violation(REASON_UNREADABLE, CLOSE_INVALID_DATA) from None
    if not isinstance(message, dict):
        raise _violation(REASON_NOT_UNDERSTOOD)
    kind = message.get("type")
    if kind == "ping":
        return Ping()
    if kind == "resume":
        token = message.get("token")
        if not isinstance(token, str) or not 1 <= len(token) <= MAX_RESUME_TOKEN_CHARS:
            raise _violation(REASON_NOT_UNDERSTOOD)
        return Resume(token)
    if kind != "prompt":
        raise _violation(REASON_NOT_UNDERSTOOD)
    text = message.get("text")
    if not isinstance(text, str):
        raise _violation(REASON_NOT_UNDERSTOOD)
    return PromptMessage(normalise_prompt(text, limits))


def _refuse_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259), whatever Python's parser allows."""
    raise ValueError(f"{name} is not JSON")


# Characters that show nothing on their own: Unicode's Default_Ignorable_Code_Point set (zero-width
# spaces and joiners, the BOM, variation selectors, tag characters, the Hangul fillers U+115F, U+1160,
# U+3164 and U+FFA0) plus the blank braille pattern. A prompt made only of these (and spaces) is blank.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def is_invisible(c: str) -> bool:
    """True for a character that draws nothing by itself (see ``_INVISIBLE_RANGES``) or is a space."""
    cp = ord(c)
    return (
        c.isspace()
        or unicodedata.category(c) in ("Zs", "Zl", "Zp")
        or any(low <= cp <= high for low, high in _INVISIBLE_RANGES)
    )


def normalise_prompt(text: str, limits: ProtocolLimits = ProtocolLimits()) -> str:
    """Collapse whitespace, NFC, and check length and characters; raises ``ProtocolViolation`` ("rejected")."""
    text = " ".join(text.split())  # any run of Unicode whitespace (tabs, newlines, NBSP) -> one space
    if any(unicodedata.category(c) == "Cs" for c in text):  # lone surrogates (from "\ud800" escapes)
        raise _violation(REASON_CONTROL, kind="rejected")
    text = unicodedata.normalize("NFC", text)
    if all(is_invisible(c) for c in text):  # also "" and prompts of zero-width spaces, fillers, tags
        raise _violation(REASON_EMPTY, kind="rejected")
    if len(text) > limits.max_prompt_chars:
        raise _violation(reason_too_long(limits.max_prompt_chars), kind="rejected")
    for c in text:
        if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS or _is_noncharacter(c):
            raise _violation(REASON_CONTROL, kind="rejected")
    return text


def _is_noncharacter(c: str) -> bool:
    cp = ord(c)
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


# -- rates and connections ------------------------------------------------------------------------
class RateLimiter:
    """Token buckets, one per key: ``rate`` tokens a second, at most ``burst`` saved up.

    Full buckets are forgotten (a full bucket is the same as a new one), so the number of keys held
    stays near the number of keys active in the last ``burst / rate`` seconds.
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or not burst >= 1:
            raise ConfigError(f"RateLimiter: expected rate > 0 and burst >= 1, got rate={rate!r}, burst={burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, time of last update)
        self._last_prune = clock()

    def allow(self, key: Hashable, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them; False (nothing taken) if not."""
        now = self.clock()
        tokens = self.tokens(key, now)
        self._prune(now)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - cost, now)
        return True

    def tokens(self, key: Hashable, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        held = self._buckets.get(key)
        if held is None:
            return self.burst
        tokens, then = held
        return min(self.burst, tokens + max(0.0, now - then) * self.rate)

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        refill_s = self.burst / self.rate
        if now - self._last_prune < refill_s:
            return
        self._last_prune = now
        full = [k for k, (tokens, then) in self._buckets.items() if tokens + (now - then) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class FloodGuard:
    """Per-connection and per-address rate limits; a warning reply first, then the connection closes.

    ``admit(connection, address)`` returns quietly, or raises ``ProtocolViolation``: an "error"
    reply that keeps the connection open for the first ``warnings`` excesses, then close 1008.
    A connection that keeps to the limits for ``forgive_s`` seconds gets its warnings back.
    """

    def __init__(
        self, per_connection: RateLimiter, per_address: RateLimiter, warnings: int = 1, forgive_s: float = 30.0
    ) -> None:
        self.per_connection = per_connection
        self.per_address = per_address
        self.warnings = warnings
        self.forgive_s = forgive_s
        self._strikes: dict[Hashable, tuple[int, float]] = {}  # connection -> (strikes, time of last)

    def admit(self, connection: Hashable, address: Hashable) -> None:
        now = self.per_connection.clock()
        ok = self.per_connection.tokens(connection) >= 1.0 and self.per_address.tokens(address) >= 1.0
        if ok:  # take from both only when both have a token, so one running dry costs the other nothing
            self.per_connection.allow(connection)
            self.per_address.allow(address)
        strikes, last = self._strikes.get(connection, (0, now))
        if strikes and now - last >= self.forgive_s:
            strikes = 0
            self._strikes.pop(connection, None)
        if ok:
            return
        strikes += 1
        self._strikes[connection] = (strikes, now)
        if strikes > self.warnings:
            raise _violation(REASON_FLOOD, CLOSE_POLICY_VIOLATION)
        raise _violation(REASON_SLOW_DOWN)

    def forget(self, connection: Hashable) -> None:
        """The connection has gone; its address's bucket stays (it may be reconnecting to flood again)."""
        self._strikes.pop(connection, None)
        self.per_connection.forget(connection)


class ConnectionLimiter:
    """At most ``max_total`` open connections, and at most ``max_per_address`` from one address."""

    def __init__(self, max_total: int, max_per_address: int) -> None:
        if max_total < 1 or max_per_address < 1:
            raise ConfigError(f"ConnectionLimiter: expected caps >= 1, got {max_total!r}, {max_per_address!r}")
        self.max_total = max_total
        self.max_per_address = max_per_address
        self._open: dict[Hashable, int] = {}
        self.total = 0

    def would_admit(self, address: Hashable) -> bool:
        return self.total < self.max_total and self._open.get(address, 0) < self.max_per_address

    def try_acquire(self, address: Hashable) -> bool:
        """Take a slot for ``address``; False (nothing taken) when a cap is reached."""
        if not self.would_admit(address):
            return False
        self._open[address] = self._open.get(address, 0) + 1
        self.total += 1
        return True

    def release(self, address: Hashable) -> None:
        held = self._open.get(address, 0)
        if held <= 0:
            return
        if held == 1:
            del self._open[address]
        else:
            self._open[address] = held - 1
        self.total -= 1

    def count(self, address: Hashable) -> int:
        return self._open.get(address, 0)
