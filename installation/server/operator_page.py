"""The HTTP half of the operator side, without sockets: the panel page, its state and preview, and
the answers for someone without the right token.

The panel is one HTML document: ``web/operator.html`` with ``operator.css`` and ``operator.js``
put inline when it is loaded (the calibration page likewise: ``calibrate.html`` with the same
``operator.css`` and ``calibrate.js``), so a single token-protected answer carries everything (a browser
cannot send a token with ``<script src>``). The Content-Security-Policy allows exactly those inline
blocks by their SHA-256 hashes, and nothing from anywhere else. The page keeps the token in
sessionStorage and opens ``/operator/ws?token=...`` (the one route where the query counts).

Without a token in the Authorization header the page route answers a small sign-in page (401, or
403 for a wrong token) whose script sends the token as a Bearer header to ``/operator`` with
``fetch`` and puts the panel that comes back in its own place, so the token is never in an address.
The sign-in page's CSP therefore allows the panel's inline blocks as well as its own. Other operator
routes answer plain text. Nothing here ever echoes a token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from engine.errors import ConfigError
from installation.control.show_control import CommandError
from installation.server.auth import TOKEN_ENV, Access
from installation.server.visitor_page import SECURITY_HEADERS, WEB_ROOT, HttpReply, http_reply, json_bytes, text_reply

if TYPE_CHECKING:
    from installation.control.show_control import ShowControl

log = logging.getLogger(__name__)

PAGE_PATH = "/operator"
CALIBRATE_PATH = "/operator/calibrate"
PAGE_PATHS = (PAGE_PATH, CALIBRATE_PATH)  # the HTML pages: a browser without the token gets the sign-in page
STATE_PATH = "/operator/state"
PREVIEW_PATH = "/operator/preview.jpg"
WEBSOCKET_PATH = "/operator/ws"

FILES = (
    "operator.html",
    "operator-login.html",
    "operator.css",
    "operator.js",
    "operator-login.js",
    "calibrate.html",
    "calibrate.js",
)
BEARER_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="laterna-operator"')

REASON_MISSING = "This is the operator's side of the show. It needs the operator token."
REASON_WRONG = "That operator token is not right."
REASON_DISABLED = (
    f"Operator controls are off: {TOKEN_ENV} must be set to a secret token "
    "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(24))'`) "
    "before the show starts."
)
REASON_NO_CONTROL = "This show has no operator controls (the server was started without them)."


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _security(script: str, style: str, *also: str) -> tuple[tuple[str, str], ...]:
    """The visitor page's security headers, with a CSP that allows these inline blocks (and the scripts in
    ``also``) and no others."""
    scripts = " ".join(_sha256(s) for s in (script, *also))
    csp = (
        f"default-src 'none'; script-src {scripts}; style-src {_sha256(style)}; "
        "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return (("Content-Security-Policy", csp),) + tuple(h for h in SECURITY_HEADERS if h[0] != "Content-Security-Policy")


class _InlinePage:
    """An HTML template with its style and script put inline, and the headers that allow just them."""

    def __init__(self, template: str, style: str, script: str, title: str, *also: str) -> None:
        # also: other inline scripts this page may come to run (the panel, written in by the sign-in page)
        if "</script" in script.lower() or "</style" in style.lower():
            raise ConfigError("the operator panel's script or style would end its own inline block early")
        self.template = (
            template.replace("{{title}}", html.escape(title)).replace("{{style}}", style).replace("{{script}}", script)
        )
        self.security = _security(script, style, *also)

    def reply(self, status: int, *extra: tuple[str, str], message: str = "", access: str = "") -> HttpReply:
        body = self.template.replace("{{message}}", html.escape(message)).replace("{{access}}", access).encode()
        return http_reply(status, "text/html; charset=utf-8", body, *extra, cache="no-store", security=self.security)


class OperatorPage:
    """The operator routes' answers. ``control`` None: every one of them says the show has none."""

    def __init__(
        self, title: str = "Laterna", web_root: str | Path = WEB_ROOT, control: ShowControl | None = None
    ) -> None:
        self.web_root = Path(web_root)
        self.control = control
        text = {}
        for name in FILES:
            path = self.web_root / name
            if not path.is_file():
                raise ConfigError(f"{path}: the operator panel is missing this file")
            text[name] = path.read_text(encoding="utf-8")
        style = text["operator.css"]
        self._page = _InlinePage(text["operator.html"], style, text["operator.js"], title)
        self._calibrate = _InlinePage(text["calibrate.html"], style, text["calibrate.js"], title)
        pages = (text["operator.js"], text["calibrate.js"])  # the sign-in page puts either in its own place
        self._login = _InlinePage(text["operator-login.html"], style, text["operator-login.js"], title, *pages)

    # -- for the right token -----------------------------------------------------------------------------
    def page(self, target: str = PAGE_PATH) -> HttpReply:
        return self._page.reply(200)

    def calibrate(self, target: str = CALIBRATE_PATH) -> HttpReply:
        """The projector calibration page (points over each projector's picture, test pattern, save)."""
        return self._calibrate.reply(200)

    def state(self, target: str = STATE_PATH) -> HttpReply:
        if self.control is None:
            return text_reply(503, REASON_NO_CONTROL)
        try:
            body = json_bytes(self.control.state())
        except Exception:  # the control's providers are other people's code: say so, keep serving
            log.exception("the operator state could not be read")
            return text_reply(500, "The show's state is not available right now.")
        return http_reply(200, "application/json", body, cache="no-store")

    def preview(self, target: str = PREVIEW_PATH) -> HttpReply:
        """The picture on screen as JPEG; ``?width=`` (16..1920, default 320)."""
        if self.control is None:
            return text_reply(503, REASON_NO_CONTROL)
        width = 320
        node = parse_qs(urlsplit(target).query).get("node")
        if node:  # a cluster hub: one render node's own preview
            jpeg = self.control.node_preview_jpeg(node[0])
            if jpeg is None:
                return text_reply(404, "No preview from that node.")
            return http_reply(200, "image/jpeg", jpeg, cache="no-store")
        query = parse_qs(urlsplit(target).query)
        values = query.get("width")
        if values:
            try:
                width = int(values[0])
            except ValueError:
                return text_reply(400, "width: expected a whole number of pixels.")
        output = None
        if query.get("output"):  # one projector's region of the picture (the calibration page's thumbnails)
            try:
                output = int(query["output"][0])
            except ValueError:
                return text_reply(400, "output: expected a projector's number (1, 2, ...).")
        try:
            jpeg = self.control.preview_jpeg(width, output=output)
        except CommandError as exc:
            return text_reply(404, f"{exc}.")
        except Exception:
            log.exception("the preview picture could not be made")
            return text_reply(500, "The preview is not available right now.")
        if jpeg is None:
            return text_reply(503, "No picture has been shown yet.", ("Retry-After", "2"))
        return http_reply(200, "image/jpeg", jpeg, cache="no-store")

    # -- for anyone else -----------------------------------------------------------------------------
    def refused(self, access: Access, page: bool = False) -> HttpReply:
        """The answer for a request without the right token; ``page``: the sign-in page (for browsers)."""
        if access is Access.DISABLED:
            return text_reply(403, REASON_DISABLED)
        missing = access is Access.MISSING
        status, reason = (401, REASON_MISSING) if missing else (403, REASON_WRONG)
        extra = (BEARER_CHALLENGE,) if missing else ()
        if page:
            return self._login.reply(status, *extra, message=reason, access=access.value)
        return text_reply(status, reason, *extra)
