import asyncio
import contextlib
import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.events import Blackout
from engine.style import StyleMix
from installation.control.show_control import LoopView, ShowControl, WarningLog
from installation.ops.metrics import Metrics
from installation.ops.supervision import Health
from installation.server.prompt_server import PromptServer, VisitorServerSettings
from installation.server.routes import OPERATOR, Router
from tests.installation.prompts.toy_director import STYLES, make_director

TOKEN = "route-test-token-4f9c2a7e1b"
WRONG = "wrong-guess-token-0d8e3b5a"
TIMEOUT = 5.0  # generous: the machine may be busy


@contextlib.asynccontextmanager
async def running(tmp_path, token: str | None = TOKEN, **settings):
    """A real PromptServer on 127.0.0.1, port 0, with a real Director, ShowControl, Health and Metrics."""
    director, _ = make_director()
    posted: list = []
    ticks = {"last": 100.0, "now": 100.5}  # the frame loop's last tick and the health clock
    frame = np.full((72, 128, 3), 90, np.uint8)
    control = ShowControl(
        LoopView(posted.append, lambda: {"fps": 30.0}, lambda: StyleMix.single(3, 0), lambda: frame),
        director,
        [s.name for s in STYLES],
        tmp_path,
        WarningLog(),
    )
    health = Health(lambda: ticks["last"], stall_after_s=5.0, clock=lambda: ticks["now"])
    config = (
        dict(host="127.0.0.1", port=0, state_interval_s=0.05, http_burst_per_address=1000, http_rate_per_address=1000.0)
        | settings
    )
    server = PromptServer(
        director,
        VisitorServerSettings(**config),
        operator_token=token,
        control=control,
        health=health,
        metrics=Metrics(),
    )
    port = await server.start()
    try:
        yield SimpleNamespace(server=server, port=port, posted=posted, ticks=ticks, director=director)
    finally:
        await server.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def get(port: int, target: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """A plain HTTP/1.1 GET over a real socket; returns status, headers (lower-case names) and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    return (
        int(head_lines[0].split()[1]),
        {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head_lines[1:])},
        body,
    )


async def handshake_status(url: str, headers: dict | None = None) -> int:
    """The HTTP status a websocket handshake is refused with (101 if it is accepted)."""
    try:
        async with connect(url, additional_headers=headers, open_timeout=TIMEOUT):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def next_json(ws, kind: str, until=lambda m: True) -> dict:
    """The next JSON message of type ``kind`` that satisfies ``until`` (previews and other messages skipped)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            data = await ws.recv()
            if isinstance(data, str):
                message = json.loads(data)
                if message.get("type") == kind and until(message):
                    return message


# -- the table ----------------------------------------------------------------------------------------
def test_the_router_lists_the_operator_side_and_metrics_join_it_when_not_public(tmp_path):
    """Router.protected() holds every OPERATOR route (page and websocket among them), and /metrics only
    when metrics_public is False."""

    async def scenario():
        async with running(tmp_path) as show:
            router: Router = show.server.router
            protected = router.protected()
            assert {r.path for r in protected} == {r.path for r in router.routes if r.access == OPERATOR}
            assert "/operator" in {r.path for r in protected} and any(r.session for r in protected)
            assert "/metrics" not in {r.path for r in protected}
        async with running(tmp_path, metrics_public=False) as show:
            assert "/metrics" in {r.path for r in show.server.router.protected()}

    run(scenario())


@pytest.mark.parametrize("metrics_public", [True, False])
def test_every_protected_route_refuses_a_missing_or_wrong_token(tmp_path, metrics_public):
    """Each route the router protects answers 401 (with WWW-Authenticate: Bearer) without a token and 403
    with a wrong one, in the header or the query; websocket routes refuse the handshake the same way."""

    async def scenario():
        async with running(tmp_path, metrics_public=metrics_public) as show:
            for route in show.server.router.protected():
                if route.session:
                    url = f"ws://127.0.0.1:{show.port}{route.path}"
                    assert await handshake_status(url) == 401, route
                    assert await handshake_status(url, bearer(WRONG)) == 403, route
                    assert await handshake_status(f"{url}?token={WRONG}") == 403, route
                    continue
                status, headers, _ = await get(show.port, route.path)
                assert status == 401 and headers["www-authenticate"].startswith("Bearer"), route
                assert (await get(show.port, route.path, bearer(WRONG)))[0] == 403, route
                query_counts = show.server.router.token_in_query(route)
                assert (await get(show.port, f"{route.path}?token={WRONG}"))[0] == (403 if query_counts else 401)

    run(scenario())


def test_without_a_configured_token_every_protected_route_is_403_and_says_why(tmp_path):
    """With no operator token set, each protected route answers 403 saying LATERNA_OPERATOR_TOKEN must be set."""

    async def scenario():
        async with running(tmp_path, token=None, metrics_public=False) as show:
            for route in show.server.router.protected():
                if route.session:
                    assert await handshake_status(f"ws://127.0.0.1:{show.port}{route.path}", bearer(TOKEN)) == 403
                    continue
                status, _, body = await get(show.port, route.path, bearer(TOKEN))
                assert status == 403 and b"LATERNA_OPERATOR_TOKEN must be set" in body, route

    run(scenario())


# -- with the right token -------------------------------------------------------------------------------
def test_the_right_token_opens_the_page_the_state_and_the_preview(tmp_path):
    """With the token (header or query) the panel page, its JSON state and a JPEG preview are served."""

    async def scenario():
        async with running(tmp_path) as show:
            status, headers, body = await get(show.port, "/operator", bearer(TOKEN))
            assert status == 200 and headers["content-type"].startswith("text/html") and b"/operator/ws" in body
            assert "script-src 'sha256-" in headers["content-security-policy"]
            assert TOKEN.encode() not in body
            assert (await get(show.port, f"/operator?token={TOKEN}"))[0] == 401  # the query counts on /operator/ws only
            status, headers, body = await get(show.port, "/operator/state", bearer(TOKEN))
            state = json.loads(body)
            assert status == 200 and state["styles"] == ["ink", "ember", "moss"] and state["queue"] == []
            status, headers, body = await get(show.port, "/operator/preview.jpg?width=64", bearer(TOKEN))
            assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"

    run(scenario())


def test_the_calibration_page_signs_in_like_the_panel_and_its_thumbnails_name_a_projector(tmp_path):
    """/operator/calibrate answers the calibration page to the token and the sign-in page (401, HTML) without;
    /operator/preview.jpg?output=N answers 400 for a non-number and 404 for a projector the show lacks."""

    async def scenario():
        async with running(tmp_path) as show:
            status, headers, body = await get(show.port, "/operator/calibrate", bearer(TOKEN))
            assert status == 200 and headers["content-type"].startswith("text/html")
            assert b"projector calibration" in body and b'"warp"' in body and TOKEN.encode() not in body
            status, headers, body = await get(show.port, "/operator/calibrate")
            assert status == 401 and headers["content-type"].startswith("text/html") and b'id="token"' in body
            assert (await get(show.port, "/operator/preview.jpg?output=one", bearer(TOKEN)))[0] == 400
            status, _, body = await get(show.port, "/operator/preview.jpg?output=1", bearer(TOKEN))
            assert status == 404 and b"no projectors" in body

    run(scenario())


def test_operator_websocket_pushes_state_and_preview_and_takes_commands(tmp_path):
    """The operator websocket sends state (JSON) and the preview (binary JPEG); a blackout command posts
    Blackout(True), is answered with its ref, and the next state shows it."""

    async def scenario():
        async with running(tmp_path) as show:
            url = f"ws://127.0.0.1:{show.port}/operator/ws"
            async with connect(url, additional_headers=bearer(TOKEN)) as ws:
                state = await next_json(ws, "state")
                assert state["blackout"] is False and state["styles"] == ["ink", "ember", "moss"]
                async with asyncio.timeout(TIMEOUT):
                    while not isinstance(preview := await ws.recv(), bytes):
                        pass
                assert preview[:2] == b"\xff\xd8"
                await ws.send(json.dumps({"cmd": "blackout", "on": True, "ref": "b1"}))
                result = await next_json(ws, "result")
                assert result == {"type": "result", "ref": "b1", "ok": True, "cmd": "blackout", "on": True}
                assert Blackout(True) in show.posted
                await next_json(ws, "state", lambda m: m["blackout"] is True)
                await ws.send(json.dumps({"cmd": "strength", "value": 7}))
                assert (await next_json(ws, "result"))["ok"] is False

    run(scenario())


def test_browsers_pass_the_token_in_the_query_of_the_websocket(tmp_path):
    """/operator/ws?token=... (what the panel page does) is accepted."""

    async def scenario():
        async with running(tmp_path) as show:
            async with connect(f"ws://127.0.0.1:{show.port}/operator/ws?token={TOKEN}") as ws:
                assert (await next_json(ws, "state"))["mode"] == "waiting"

    run(scenario())


def test_the_token_in_the_query_counts_only_for_the_websocket(tmp_path):
    """?token= (even the right one) opens the operator websocket, which a browser cannot send a header with,
    but not the panel page, the JSON state, the preview or private metrics: those need the header."""

    async def scenario():
        async with running(tmp_path, metrics_public=False) as show:
            assert await handshake_status(f"ws://127.0.0.1:{show.port}/operator/ws?token={TOKEN}") == 101
            for path in ("/operator", "/operator/state", "/operator/preview.jpg", "/metrics"):
                assert (await get(show.port, f"{path}?token={TOKEN}"))[0] == 401, path
                assert (await get(show.port, path, bearer(TOKEN)))[0] in (200, 503), path

    run(scenario())


def test_operator_panels_are_capped(tmp_path):
    """Over max_operators, another operator handshake is refused with 503; visitors are not counted."""

    async def scenario():
        async with running(tmp_path, max_operators=1) as show:
            url = f"ws://127.0.0.1:{show.port}/operator/ws"
            async with connect(url, additional_headers=bearer(TOKEN)) as first:
                await next_json(first, "state")
                assert await handshake_status(url, bearer(TOKEN)) == 503
            async with asyncio.timeout(TIMEOUT):
                while show.server.operators:  # the first panel's handler finishes
                    await asyncio.sleep(0.01)
            assert await handshake_status(url, bearer(TOKEN)) == 101

    run(scenario())


# -- public routes --------------------------------------------------------------------------------------
def test_healthz_is_200_while_the_loop_ticks_and_503_when_it_stalls(tmp_path):
    """/healthz answers the injected Health: 200 with its report, then 503 once the last tick is too old."""

    async def scenario():
        async with running(tmp_path) as show:
            status, headers, body = await get(show.port, "/healthz")
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert headers["content-type"] == "application/json"
            show.ticks["now"] += 60.0
            status, _, body = await get(show.port, "/healthz")
            assert status == 503 and json.loads(body)["status"] == "stalled"

    run(scenario())


def test_metrics_are_prometheus_text_and_public_unless_configured(tmp_path):
    """/metrics is Prometheus text without a token by default; with metrics_public=False it needs the token."""

    async def scenario():
        async with running(tmp_path) as show:
            status, headers, body = await get(show.port, "/metrics")
            assert status == 200 and headers["content-type"].startswith("text/plain")
            assert b"# TYPE laterna_fps gauge" in body
        async with running(tmp_path, metrics_public=False) as show:
            assert (await get(show.port, "/metrics"))[0] == 401
            status, _, body = await get(show.port, "/metrics", bearer(TOKEN))
            assert status == 200 and b"laterna_fps" in body

    run(scenario())


def test_the_visitor_side_still_works_beside_the_operator(tmp_path):
    """The visitor page and a visitor's prompt over /ws work as before, with no token."""

    async def scenario():
        async with running(tmp_path) as show:
            status, _, body = await get(show.port, "/")
            assert status == 200 and b"/static/visitor.js" in body
            assert (await get(show.port, "/static/operator.js"))[0] == 404
            async with connect(f"ws://127.0.0.1:{show.port}/ws") as ws:
                await ws.send(json.dumps({"type": "prompt", "text": "green moss"}))
                assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "queued"

    run(scenario())


def test_tokens_never_reach_the_logs(tmp_path, caplog):
    """Neither the right token nor a wrong one appears in any log line, even at DEBUG (websockets logs
    request lines and headers there)."""
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with running(tmp_path) as show:
            await get(show.port, f"/operator?token={TOKEN}")
            await get(show.port, f"/operator?%74oken={WRONG}")  # a percent-encoded name is still the token
            await get(show.port, "/operator/state", bearer(WRONG))
            await get(show.port, f"/operator/state?token={WRONG}")
            await get(show.port, "/metrics", bearer(TOKEN))
            assert await handshake_status(f"ws://127.0.0.1:{show.port}/operator/ws", bearer(WRONG)) == 403
            async with connect(f"ws://127.0.0.1:{show.port}/operator/ws?token={TOKEN}") as ws:
                await next_json(ws, "state")
                await ws.send(json.dumps({"cmd": "freeze", "on": True}))
                await next_json(ws, "result")

    run(scenario())
    server_side = [r for r in caplog.records if not r.name.startswith("websockets.client")]  # not the test's own
    assert any(r.getMessage().startswith("< GET /operator") for r in server_side)  # the wire's DEBUG lines are in
    for record in server_side:
        message = record.getMessage()
        assert TOKEN not in message and WRONG not in message, message
