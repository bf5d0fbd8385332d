"""Every route of the one port, in one table: which path answers, who may ask, and which websocket
session an upgrade starts. Without sockets: ``Router.reply`` takes a method, a request target and
the request's Authorization headers and returns the ``HttpReply`` to send, or None where a
websocket handshake should go on.

Access is one of ``PUBLIC`` (the visitor page, ``/healthz``), ``OPERATOR`` (the token, always)
and ``METRICS`` (``/metrics``: public on the LAN like most exporters, unless ``metrics_public`` is
False, when it needs the operator token too). ``Router.protected()`` lists the routes that need the
token, so tests can try each one without a hand-kept list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from installation.server import operator_page
from installation.server.auth import Access, OperatorAuth
from installation.server.operator_page import OperatorPage
from installation.server.visitor_page import WEBSOCKET_PATH, HttpReply, VisitorPage, http_reply, json_bytes, text_reply

log = logging.getLogger(__name__)

PUBLIC = "public"
OPERATOR = "operator"
METRICS = "metrics"

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

VISITOR_SESSION = "visitor"
OPERATOR_SESSION = "operator"

Answer = Callable[[str, "str | None"], "HttpReply | None"]  # (request target, Host) -> reply, None: upgrade


class HealthLike(Protocol):
    def status_code(self) -> int: ...
    def report(self) -> dict: ...


class MetricsLike(Protocol):
    def render(self) -> tuple[bytes, str]: ...


@dataclass(frozen=True)
class Route:
    path: str
    access: str  # PUBLIC | OPERATOR | METRICS
    summary: str
    answer: Answer = field(repr=False, compare=False)
    session: str | None = None  # the websocket session an upgrade on this path starts, if any


def health_reply(health: HealthLike | None) -> HttpReply:
    """``/healthz``: 200 while the frame loop ticks, 503 when it stalls, with ``health.report()`` as JSON."""
    if health is None:  # nothing to judge but that this server answers
        return http_reply(
            200, "application/json", json_bytes({"status": "ok", "frame_loop": "not watched"}), cache="no-store"
        )
    try:
        status, report = int(health.status_code()), health.report()
        body = json_bytes(report)
    except Exception:
        log.exception("the health check failed")
        return text_reply(500, "The health check failed.")
    return http_reply(status, "application/json", body, cache="no-store")


def metrics_reply(metrics: MetricsLike | None) -> HttpReply:
    """``/metrics``: ``metrics.render()`` (Prometheus text exposition)."""
    if metrics is None:
        return text_reply(404, "This show exports no metrics.")
    try:
        body, content_type = metrics.render()
    except Exception:
        log.exception("the metrics could not be rendered")
        return text_reply(500, "Metrics are not available right now.")
    return http_reply(200, content_type, body, cache="no-store")


class Router:
    """The one port's route table; see the module docstring."""

    def __init__(
        self,
        visitor: VisitorPage,
        operator: OperatorPage,
        auth: OperatorAuth,
        health: HealthLike | None = None,
        metrics: MetricsLike | None = None,
        metrics_public: bool = True,
        extra: Iterable[Route] = (),
    ) -> None:
        # extra: more routes (the live picture's streams, installation.server.stream_routes)
        self.visitor = visitor
        self.operator = operator
        self.auth = auth
        self.health = health
        self.metrics = metrics
        self.metrics_public = metrics_public
        table = [self._visitor_route(path) for path in visitor.paths] + [
            Route(
                HEALTH_PATH,
                PUBLIC,
                "200 while the frame loop ticks, 503 when it stalls (JSON)",
                lambda target, host: health_reply(self.health),
            ),
            Route(
                METRICS_PATH,
                METRICS,
                "Prometheus metrics (text exposition)",
                lambda target, host: metrics_reply(self.metrics),
            ),
            Route(
                operator_page.PAGE_PATH,
                OPERATOR,
                "the operator panel (HTML, assets inline)",
                lambda target, host: self.operator.page(target),
            ),
            Route(
                operator_page.CALIBRATE_PATH,
                OPERATOR,
                "the projector calibration page (HTML, assets inline)",
                lambda target, host: self.operator.calibrate(target),
            ),
            Route(
                operator_page.STATE_PATH,
                OPERATOR,
                "the panel's state once (JSON)",
                lambda target, host: self.operator.state(target),
            ),
            Route(
                operator_page.PREVIEW_PATH,
                OPERATOR,
                "the picture on screen (JPEG, ?width=)",
                lambda target, host: self.operator.preview(target),
            ),
            Route(
                operator_page.WEBSOCKET_PATH,
                OPERATOR,
                "the operator websocket: state pushed, commands in",
                self._operator_upgrade,
                session=OPERATOR_SESSION,
            ),
        ]
        table += list(extra)
        self._table: dict[str, Route] = {}
        for route in table:
            if route.path in self._table:
                raise ValueError(f"route {route.path} is defined twice")
            self._table[route.path] = route

    def _visitor_route(self, path: str) -> Route:
        def answer(target: str, host: str | None) -> HttpReply | None:
            return self.visitor.reply("GET", target, host)

        if path == WEBSOCKET_PATH:
            return Route(path, PUBLIC, "the visitor websocket", answer, session=VISITOR_SESSION)
        return Route(path, PUBLIC, "the visitor page, its assets, status and QR code", answer)

    def _operator_upgrade(self, target: str, host: str | None) -> HttpReply | None:
        if self.operator.control is None:
            return text_reply(503, operator_page.REASON_NO_CONTROL)
        return None

    # -- the table -------------------------------------------------------------------------------------
    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._table.values())

    def needs_token(self, route: Route) -> bool:
        return route.access == OPERATOR or (route.access == METRICS and not self.metrics_public)

    def token_in_query(self, route: Route) -> bool:
        """Whether ``?token=`` counts on this route: only on a websocket upgrade (``new WebSocket()`` cannot send
        a header). Every other protected route, the panel's page included, needs the Authorization header."""
        return route.session is not None

    def protected(self) -> tuple[Route, ...]:
        """Every route that answers only to the operator token."""
        return tuple(r for r in self._table.values() if self.needs_token(r))

    def find(self, target: str) -> Route | None:
        return self._table.get(urlsplit(target).path or "/")

    # -- answering -------------------------------------------------------------------------------------
    def reply(
        self, method: str, target: str, authorization: Iterable[str] = (), host: str | None = None
    ) -> tuple[Route | None, HttpReply | None]:
        """The route a request reached (None: no such path) and the answer (None: the upgrade goes on).

        A protected route checks the token before anything else, so without it nobody learns more
        about the operator side than that it is there.
        """
        route = self.find(target)
        if route is None:
            return None, self.visitor.reply(method, target, host)  # 404 or 405, as the visitor page says
        if self.needs_token(route):
            access = self.auth.check(authorization, target, query=self.token_in_query(route))
            if access is not Access.OK:
                return route, self.operator.refused(access, page=route.path in operator_page.PAGE_PATHS)
        if method != "GET":
            return route, text_reply(405, "Only GET is served here.", ("Allow", "GET"))
        return route, route.answer(target, host)
