import asyncio
import contextlib
import json
import logging
import socket

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

from engine.errors import ConfigError, EngineError
from installation.prompts.director import CROWDED, NEAR_DUPLICATE
from installation.prompts.moderation import Moderator
from installation.server import protocol
from installation.server.prompt_server import PromptServer, ServerError, ServerThread, VisitorServerSettings
from installation.server.visitor_page import qr_svg
from tests.installation.prompts.toy_director import DISTINCT_WORDS, make_director

TIMEOUT = 5.0  # generous: the machine may be busy; tests finish long before this when they pass


class ManualClock:
    """A clock that moves only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def until(condition, what: str, timeout: float = TIMEOUT) -> None:
    """Wait, yielding to the loop, until ``condition()`` holds; fail naming ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(director=None, run_director=True, status_provider=None, clock=None, **settings):
    """A real PromptServer on 127.0.0.1, port 0, with a real Director stepping in the same loop."""
    if director is None:
        director, _ = make_director()
    extra = {} if clock is None else {"clock": clock}
    server = PromptServer(
        director, VisitorServerSettings(host="127.0.0.1", port=0, **settings), status_provider, **extra
    )
    port = await server.start()
    runner = asyncio.create_task(director.run()) if run_director else None
    try:
        yield server, f"ws://127.0.0.1:{port}/ws"
    finally:
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await server.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def ask(ws, message: dict) -> dict:
    await ws.send(json.dumps(message))
    return await answer(ws)


async def answer(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def close_of(ws) -> tuple[int, str]:
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    return ws.close_code, ws.close_reason


async def http_get(port: int, path: str, method: str = "GET", host: str = "") -> tuple[int, dict, bytes]:
    """A plain HTTP/1.1 request over a real socket; returns status, headers and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    return status, {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}, body


# -- the happy path --------------------------------------------------------------------------------------
def test_prompt_is_queued_then_shown():
    """A visitor's prompt is answered 'queued', then 'showing' with the same id, and the engine is told."""
    director, posted = make_director()

    async def scenario():
        async with running(director) as (server, url):
            async with connect(url) as ws:
                queued = await ask(ws, {"type": "prompt", "text": "  warm   fire glow "})
                assert queued["type"] == "queued" and queued["position"] == 1
                showing = await answer(ws)
                assert showing == {"type": "showing", "id": queued["id"], "text": "warm fire glow"}

    run(scenario())
    assert any(getattr(e, "label", "") == "warm fire glow" for e in posted)


def test_ping_gets_pong():
    """{"type":"ping"} is answered with {"type":"pong"}."""

    async def scenario():
        async with running() as (server, url):
            async with connect(url) as ws:
                assert await ask(ws, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_moderated_prompt_is_declined_with_a_neutral_reason():
    """A blocked prompt comes back 'rejected' with a reason that does not repeat it; the visitor stays."""

    async def scenario():
        async with running() as (server, url):
            async with connect(url) as ws:
                reply = await ask(ws, {"type": "prompt", "text": "a sh1t painting"})
                assert reply["type"] == "rejected" and "sh1t" not in reply["reason"]
                assert (await ask(ws, {"type": "prompt", "text": "green moss"}))["type"] == "queued"

    run(scenario())


def test_visitor_ids_are_random_and_a_departure_withdraws_the_prompt():
    """Two visitors from one address get different random ids; leaving withdraws a pending prompt (at once
    with resume_grace_s=0)."""
    director, _ = make_director()

    async def scenario():
        async with running(director, run_director=False, resume_grace_s=0) as (server, url):
            async with connect(url) as a, connect(url) as b:
                await ask(a, {"type": "ping"})
                await ask(b, {"type": "ping"})
                ids = list(server.visitors)
                assert len(ids) == 2 and ids[0] != ids[1] and all("127" not in i for i in ids)
                assert (await ask(a, {"type": "prompt", "text": "ink mist"}))["type"] == "queued"
                assert director.status()["queue_length"] == 1
            await until(lambda: not server.visitors, "both visitors to leave")
            assert director.status()["queue_length"] == 0 and server.connected_visitors == 0

    run(scenario())


async def _gone(server, visitor_id: str) -> None:
    await until(lambda: visitor_id not in server.visitors, f"{visitor_id} to leave")


def test_a_dropped_phone_comes_back_to_its_place_in_the_queue():
    """A visitor whose connection drops while their prompt waits keeps it: a new connection sending the
    'resume' token of its last 'queued' gets the same prompt id and position, and then its 'showing'."""
    director, _ = make_director(min_show_s=60.0)

    async def scenario():
        async with running(director, run_director=False) as (server, url):
            async with connect(url) as first:
                assert (await ask(first, {"type": "prompt", "text": "ink mist"}))["type"] == "queued"
                await director.step()  # "ink mist" is on screen for a minute
                await answer(first)  # its "showing"
            async with connect(url) as phone:
                queued = await ask(phone, {"type": "prompt", "text": "green moss"})
                token, old_id = queued["resume"], next(iter(server.visitors))
            await _gone(server, old_id)
            assert director.status()["queue_length"] == 1 and server.sessions.kept  # kept for them
            async with connect(url) as again:
                await again.send(json.dumps({"type": "resume", "token": token}))
                back = await answer(again)
                assert back["type"] == "queued" and back["id"] == queued["id"] and back["position"] == 1
                assert back["resume"] != token and list(server.visitors) == [old_id] and not server.sessions.kept
                director.skip()
                await director.step()
                assert await answer(again) == {"type": "showing", "id": queued["id"], "text": "green moss"}

    run(scenario())


def test_a_resume_token_works_once_and_only_within_the_grace_period():
    """A used, unknown or expired token changes nothing (and gets no answer); after resume_grace_s the
    dropped visitor's prompt is withdrawn; a malformed token is a message not understood. The grace period
    runs on the server's (manual) clock: nothing sleeps."""
    director, _ = make_director(min_show_s=60.0)
    clock = ManualClock()

    async def scenario():
        async with running(
            director, run_director=False, resume_grace_s=120, burst_per_connection=20, burst_per_address=50, clock=clock
        ) as (server, url):
            async with connect(url) as first:
                await ask(first, {"type": "prompt", "text": "ink mist"})
                await director.step()
            async with connect(url) as phone:
                token = (await ask(phone, {"type": "prompt", "text": "green moss"}))["resume"]
                old_id = next(iter(server.visitors))
            await _gone(server, old_id)
            async with connect(url) as stranger:
                await stranger.send(json.dumps({"type": "resume", "token": "guessed-" + token[8:]}))
                assert (await ask(stranger, {"type": "ping"})) == {"type": "pong"}  # no answer to the resume
                assert (await ask(stranger, {"type": "resume", "token": 7}))["type"] == "error"
                assert (await ask(stranger, {"type": "resume", "token": "x" * 65}))["type"] == "error"
                assert director.status()["queue_length"] == 1
                clock.advance(119.0)
                server.reap()  # what the server's timer calls
                assert director.status()["queue_length"] == 1 and server.sessions.kept  # not yet
                clock.advance(1.0)  # the grace period ends
                server.reap()
                assert director.status()["queue_length"] == 0 and not server.sessions.kept
                await stranger.send(json.dumps({"type": "resume", "token": token}))
                assert (await ask(stranger, {"type": "ping"})) == {"type": "pong"}
                assert old_id not in server.visitors

    run(scenario())


# -- misbehaving visitors ----------------------------------------------------------------------------------
def test_binary_frame_is_closed_with_1003_while_others_keep_working():
    """A binary frame gets an error reply and close 1003; another visitor's prompt still goes through."""

    async def scenario():
        async with running() as (server, url):
            async with connect(url) as good, connect(url) as bad:
                await bad.send(b"\x00\x01binary")
                assert (await answer(bad))["reason"] == protocol.REASON_BINARY
                assert (await close_of(bad))[0] == 1003
                assert (await ask(good, {"type": "prompt", "text": "moss"}))["type"] == "queued"

    run(scenario())


def test_invalid_json_is_closed_with_1007():
    """Text that is not JSON gets an error reply and close 1007."""

    async def scenario():
        async with running() as (server, url):
            async with connect(url) as ws:
                await ws.send("{not json")
                assert (await answer(ws)) == {"type": "error", "reason": protocol.REASON_UNREADABLE}
                assert (await close_of(ws))[0] == 1007

    run(scenario())


def test_oversize_message_is_closed_with_1009():
    """A message over max_size (4096 bytes) is closed with 1009 by the websocket layer."""

    async def scenario():
        async with running() as (server, url):
            async with connect(url) as good, connect(url) as bad:
                await bad.send(json.dumps({"type": "prompt", "text": "x" * 5000}))
                assert (await close_of(bad))[0] == 1009
                assert await ask(good, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_wrong_schema_and_bad_prompts_get_replies_and_the_connection_stays():
    """Unknown types, over-long and control-character prompts get replies; the visitor can go on."""

    async def scenario():
        async with running() as (server, url):
            async with connect(url) as ws:
                assert (await ask(ws, {"type": "dance"}))["type"] == "error"
                assert (await ask(ws, {"type": "prompt", "text": "y" * 281}))["type"] == "rejected"
                assert (await ask(ws, {"type": "prompt", "text": "bell\x07"}))["type"] == "rejected"
                assert await ask(ws, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_flood_gets_a_warning_then_close_1008_while_others_keep_working():
    """Messages over the per-connection rate get one 'slow down' reply, then close 1008; others are unaffected."""

    async def scenario():
        async with running(
            rate_per_connection=0.1, burst_per_connection=2, rate_per_address=100, burst_per_address=100
        ) as (server, url):
            async with connect(url) as good, connect(url) as bad:
                for _ in range(6):
                    await bad.send(json.dumps({"type": "ping"}))
                replies = []
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        replies.append(await answer(bad))
                assert replies[:3] == [
                    {"type": "pong"},
                    {"type": "pong"},
                    {"type": "error", "reason": protocol.REASON_SLOW_DOWN},
                ]
                assert (await close_of(bad))[0] == 1008
                assert await ask(good, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_per_address_rate_spans_connections():
    """The per-address bucket is shared by all connections from one address."""

    async def scenario():
        async with running(rate_per_address=0.1, burst_per_address=2, flood_warnings=0) as (server, url):
            async with connect(url) as a, connect(url) as b:
                assert await ask(a, {"type": "ping"}) == {"type": "pong"}
                assert await ask(b, {"type": "ping"}) == {"type": "pong"}
                await a.send(json.dumps({"type": "ping"}))
                assert (await answer(a))["reason"] == protocol.REASON_FLOOD
                assert (await close_of(a))[0] == 1008

    run(scenario())


def test_too_many_connections_are_turned_away_and_slots_come_back():
    """Over the per-address cap a visitor gets HTTP 503; when one leaves, the next is let in."""

    async def scenario():
        async with running(max_connections_per_address=2) as (server, url):
            async with connect(url) as first, connect(url) as second:
                with pytest.raises(InvalidStatus) as err:
                    async with connect(url):
                        pass
                assert err.value.response.status_code == 503
                await first.close()
                await until(lambda: server.connected_visitors == 1, "the first visitor to leave")
                async with connect(url) as third:
                    assert await ask(third, {"type": "ping"}) == {"type": "pong"}
                assert await ask(second, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_total_connection_cap():
    """Over the total cap the server answers 503 whatever the address."""

    async def scenario():
        async with running(max_connections=1) as (server, url):
            async with connect(url) as only:
                with pytest.raises(InvalidStatus) as err:
                    async with connect(url):
                        pass
                assert err.value.response.status_code == 503
                assert await ask(only, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_idle_visitor_is_closed_but_a_waiting_one_is_not():
    """A visitor with nothing pending who says nothing is closed (1000); one waiting for its turn stays."""

    async def scenario():
        async with running(run_director=False, idle_timeout_s=0.3) as (server, url):
            async with connect(url) as idle, connect(url) as waiting:
                assert (await ask(waiting, {"type": "prompt", "text": "ink"}))["type"] == "queued"
                code, reason = await close_of(idle)
                assert (code, reason) == (1000, protocol.REASON_IDLE)
                session = next(v.session for v in server.visitors.values())
                await until(
                    lambda: server.clock() - session.last_activity > 0.35,
                    "the waiting one to be quiet longer than the idle limit",
                )
                assert await ask(waiting, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_origin_allow_list():
    """With origins set, a browser from another origin gets 403; an allowed origin and non-browsers get in."""

    async def scenario():
        async with running(origins=("http://kiosk.local:8765",)) as (server, url):
            with pytest.raises(InvalidStatus) as err:
                async with connect(url, origin="http://evil.example"):
                    pass
            assert err.value.response.status_code == 403
            async with connect(url, origin="http://kiosk.local:8765") as ws:
                assert await ask(ws, {"type": "ping"}) == {"type": "pong"}
            async with connect(url) as ws:
                assert await ask(ws, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_a_page_on_another_site_cannot_open_the_websocket_by_default():
    """Without configured origins a browser handshake from another site (or 'null') gets 403, while the
    show's own origins (its address, 127.0.0.1 and localhost on its port, as a kiosk browser has) and
    clients without an Origin get in."""

    async def scenario():
        async with running(run_director=False) as (server, url):
            for origin in ("http://evil.example", "null", f"http://evil.example:{server.port}"):
                with pytest.raises(InvalidStatus) as err:
                    async with connect(url, origin=origin):
                        pass
                assert err.value.response.status_code == 403, origin
            for origin in (
                f"http://127.0.0.1:{server.port}",
                f"http://localhost:{server.port}",
                server.url.rstrip("/"),
                None,
            ):
                async with connect(url, origin=origin) as ws:
                    assert await ask(ws, {"type": "ping"}) == {"type": "pong"}, origin

    run(scenario())


def test_a_connect_prompt_disconnect_flood_cannot_hold_the_queue():
    """Each visitor who prompts and drops keeps a place, but no more than max_kept_places_per_address from
    one address and max_kept_places in all: the rest of the flood's prompts are withdrawn at once."""
    director, _ = make_director(min_show_s=600.0)

    async def scenario():
        async with running(
            director,
            run_director=False,
            max_kept_places=3,
            max_kept_places_per_address=2,
            burst_per_address=50,
            rate_per_address=50.0,
        ) as (server, url):
            async with connect(url) as first:
                await ask(first, {"type": "prompt", "text": "ink mist"})
                await director.step()  # on screen for ten minutes: the rest wait
            for text in ("green moss", "red fire", "blue rain", "grey fog", "gold sun", "white snow"):
                async with connect(url) as ws:
                    assert (await ask(ws, {"type": "prompt", "text": text}))["type"] == "queued"
                    gone = next(iter(server.visitors))
                await _gone(server, gone)
            assert len(server.sessions.kept) == 2 and director.status()["queue_length"] == 2

    run(scenario())


HONEST = "a harbour at dusk, in warm orange light"


async def _address_hopping_flood(settle_s: float) -> dict:
    """300 connections from 300 addresses send varied prompts at once over 2 minutes (manual clock) and stay
    connected; one honest visitor connects at 30 s, reads the page and sends at 45 s. The Director gives a
    turn every 20 s. Returns what happened."""

    from installation.prompts.director import Director, DirectorSettings
    from installation.prompts.interpreter import Interpreter
    from tests.installation.prompts.toy_director import STYLES, toy_embed

    clock = ManualClock(0.0)
    director = Director(
        lambda event: True,
        Interpreter(toy_embed, STYLES),
        moderator=Moderator(),
        settings=DirectorSettings(min_show_s=20.0, max_queue=50),
        clock=clock,
    )
    events: list[str] = []  # "flood" for each flood warning the operator gets (the panel shows warnings)
    warnings = logging.getLogger("installation.prompts.director")
    counter = logging.Handler(logging.WARNING)
    counter.emit = lambda record: events.append("flood") if "flood" in record.getMessage() else None
    warnings.addHandler(counter)
    try:
        return await _flood_with(director, clock, settle_s, events)
    finally:
        warnings.removeHandler(counter)


async def _flood_with(director, clock, settle_s: float, events: list[str]) -> dict:
    import random

    rng = random.Random(13)
    flood_replies: list[dict] = []
    honest_reply: dict = {}
    async with (
        running(director, run_director=False, clock=clock, settle_s=settle_s, max_connections=400) as (server, url),
        contextlib.AsyncExitStack() as held,
    ):
        honest = None
        for i in range(300):
            clock.now = i * 0.4
            if i % 50 == 0:  # a turn every 20 s
                await director.step()
            if honest is None and clock.now >= 30.0:
                honest = await held.enter_async_context(connect(url, local_addr=("127.2.0.1", 0)))
            if honest is not None and not honest_reply and clock.now >= 45.0:
                honest_reply = await ask(honest, {"type": "prompt", "text": HONEST})
            bot = await held.enter_async_context(connect(url, local_addr=(f"127.1.{i // 200}.{i % 200 + 1}", 0)))
            flood_replies.append(await ask(bot, {"type": "prompt", "text": " ".join(rng.sample(DISTINCT_WORDS, 5))}))
        assert len(server.visitors) == 301  # the flood held every connection open to the end
        waiting = director.queue.pending()
        return {
            "honest": honest_reply,
            "flood_accepted": sum(r["type"] == "queued" for r in flood_replies),
            "flood_reasons": {r["reason"] for r in flood_replies if r["type"] == "rejected"},
            "events": events,
            "flood_waiting": sum(p.text != HONEST for p in waiting),
            "queue": len(waiting),
            "honest_waits": any(p.text == HONEST for p in waiting),
            "places": director.queue.newcomer_places,
        }


def test_an_address_hopping_flood_of_varied_prompts_cannot_turn_an_honest_visitor_away():
    """Fresh connections (under settle_s old) share one budget and half the queue, so 300 addresses sending
    varied prompts for 2 minutes fill only that half: a visitor who stayed on the page a few seconds is queued,
    and the operator is warned once. The same flood with the rule off (settle_s 0) fills the queue and turns
    the honest visitor away, so the scenario is a real flood."""
    guarded = asyncio.run(asyncio.wait_for(_address_hopping_flood(settle_s=8.0), 120))
    assert guarded["honest"]["type"] == "queued" and guarded["honest_waits"]
    assert guarded["flood_waiting"] <= guarded["places"] == 25 and guarded["queue"] < 50
    assert guarded["flood_accepted"] <= 10 + 0.2 * 120 + 1  # newcomer_burst, then newcomer_rate for 2 minutes
    assert guarded["events"].count("flood") == 1 and guarded["flood_reasons"] <= {CROWDED, NEAR_DUPLICATE}
    unguarded = asyncio.run(asyncio.wait_for(_address_hopping_flood(settle_s=0.0), 120))
    assert unguarded["honest"]["type"] == "rejected" and unguarded["queue"] == 50 == unguarded["flood_waiting"]


def test_a_visitor_who_connects_while_the_show_is_warming_up_is_told_so_first():
    """Before the interpreter has loaded, a new visitor's first message is a status with note 'warming_up';
    their prompt is still queued. A show running normally sends no status on connect."""
    director, _ = make_director()
    interpreter, director.interpreter = director.interpreter, None

    async def scenario():
        async with running(director, run_director=False) as (server, url):
            async with connect(url) as ws:
                status = await answer(ws)
                assert status["type"] == "status" and status["note"] == "warming_up" and status["accepting"]
                assert (await ask(ws, {"type": "prompt", "text": "green moss"}))["type"] == "queued"
            director.set_interpreter(interpreter)
            async with connect(url) as ws:
                assert await ask(ws, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_a_failing_director_gets_an_error_reply_and_the_visitor_stays():
    """If the Director raises on a prompt, the visitor gets a neutral error and can keep going."""

    class CrashingModerator(Moderator):
        """The real Moderator with a bug in check() (a broken model no longer raises: it falls back to the list)."""

        def check(self, text):
            raise RuntimeError("moderation crashed")

    director, _ = make_director(moderator=CrashingModerator())

    async def scenario():
        async with running(director) as (server, url):
            async with connect(url) as ws:
                assert await ask(ws, {"type": "prompt", "text": "moss"}) == protocol.error(protocol.REASON_INTERNAL)
                assert await ask(ws, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_prompts_are_logged_without_addresses_unless_asked(caplog):
    """Prompt log lines carry the random visitor id but not the client address, unless log_addresses=True."""

    async def scenario(**settings):
        async with running(run_director=False, **settings) as (server, url):
            async with connect(url) as ws:
                await ask(ws, {"type": "prompt", "text": "harbour lights"})

    with caplog.at_level(logging.DEBUG, logger="installation.server.prompt_server"):
        run(scenario())
    lines = [r.getMessage() for r in caplog.records if "harbour lights" in r.getMessage()]
    assert lines and not any("127.0.0.1" in line for line in lines)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="installation.server.prompt_server"):
        run(scenario(log_addresses=True))
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records if "harbour lights" in r.getMessage())


def test_a_visitor_prompt_logs_nothing_at_info(caplog):
    """A visitor connecting, prompting, being shown and leaving logs at DEBUG only: the log stays the operator's."""

    async def scenario():
        async with running() as (server, url):
            caplog.clear()  # the server's own start-up lines are the operator's
            async with connect(url) as ws:
                assert (await ask(ws, {"type": "prompt", "text": "harbour lights"}))["type"] == "queued"
                assert (await answer(ws))["type"] == "showing"
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while server.visitors and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            visit = [r for r in caplog.records if r.name.startswith("installation.")]
        return visit

    with caplog.at_level(logging.DEBUG, logger="installation"):
        visit = run(scenario())
    assert any("harbour lights" in r.getMessage() for r in visit)  # it is still there for `laterna -v`
    assert [r.getMessage() for r in visit if r.levelno >= logging.INFO] == []


# -- HTTP routes -----------------------------------------------------------------------------------------
def test_page_static_files_status_and_qr_are_served_on_the_same_port():
    """GET / gives the page, /static/ its assets, /status JSON with connected_visitors, /qr.svg an SVG."""

    def status():
        return {
            "fps": np.float32(12.5),
            "prompt": "ink",
            "mix": {"ink": 1.0},
            "queue_length": 0,
            "latency": float("nan"),
        }

    async def scenario():
        async with running(status_provider=status, page_title="Harbour <Lights>") as (server, url):
            port = server.port
            code, headers, body = await http_get(port, "/")
            assert code == 200 and headers["content-type"].startswith("text/html")
            page = body.decode()
            assert "Harbour &lt;Lights&gt;" in page and "/static/visitor.js" in page
            assert "http://" not in page and "https://" not in page  # nothing from elsewhere
            assert "default-src 'none'" in headers["content-security-policy"]
            for asset, kind in [
                ("visitor.js", "text/javascript"),
                ("visitor.css", "text/css"),
                ("icon.svg", "image/svg+xml"),
            ]:
                code, headers, _ = await http_get(port, f"/static/{asset}")
                assert code == 200 and headers["content-type"].startswith(kind)
            async with connect(url) as ws:
                await ask(ws, {"type": "ping"})
                code, headers, body = await http_get(port, "/status")
            info = json.loads(body)
            assert code == 200 and info["connected_visitors"] == 1 and info["fps"] == 12.5
            assert info["latency"] is None and info["mix"] == {"ink": 1.0}
            code, headers, body = await http_get(port, "/qr.svg")
            assert code == 200 and headers["content-type"] == "image/svg+xml" and b"<svg" in body

    run(scenario())


def test_status_defaults_to_the_directors():
    """Without a status provider, /status shows the Director's status plus connected_visitors."""

    async def scenario():
        async with running() as (server, url):
            info = json.loads((await http_get(server.port, "/status"))[2])
            assert "queue_length" in info and info["connected_visitors"] == 0

    run(scenario())


@pytest.mark.parametrize(
    "method,path,expected",
    [
        ("GET", "/nope", 404),
        ("GET", "/static/../server.py", 404),
        ("GET", "/static/index.html", 404),
        ("GET", "/%2e%2e/etc/passwd", 404),
        ("POST", "/", 405),
        ("DELETE", "/status", 405),
        ("GET", "/ws", 426),
    ],
)
def test_unknown_paths_and_methods(method, path, expected):
    """Unknown paths are 404, other methods 405, and /ws without an upgrade 426."""

    async def scenario():
        async with running(run_director=False) as (server, url):
            code, headers, _ = await http_get(server.port, path, method)
            assert code == expected
            if expected == 405:
                assert headers["allow"] == "GET"

    run(scenario())


def test_http_requests_are_rate_limited_per_address():
    """Too many plain GETs from one address get 429 with Retry-After."""

    async def scenario():
        async with running(run_director=False, http_rate_per_address=0.1, http_burst_per_address=3) as (server, url):
            codes = [(await http_get(server.port, "/status"))[0] for _ in range(4)]
            assert codes == [200, 200, 200, 429]

    run(scenario())


def test_qr_code_encodes_the_public_url():
    """With public_url set, /qr.svg is exactly the QR code of that address."""

    async def scenario():
        async with running(run_director=False, public_url="http://lantern.local:8765/") as (server, url):
            assert server.url == "http://lantern.local:8765/"
            return (await http_get(server.port, "/qr.svg"))[2]

    assert run(scenario()) == qr_svg("http://lantern.local:8765/")


def test_qr_code_ignores_the_host_header():
    """Without public_url, the QR code is the server's own address, not the Host a request claims."""

    async def scenario():
        async with running(run_director=False) as (server, url):
            return server.url, (await http_get(server.port, "/qr.svg", host="evil.example:8765"))[2]

    own, body = run(scenario())
    assert body == qr_svg(own) and "evil" not in own


# -- settings and the thread -----------------------------------------------------------------------------
def test_settings_are_validated():
    """Nonsense settings raise ConfigError naming the field."""
    with pytest.raises(ConfigError, match="idle_timeout_s"):
        VisitorServerSettings(idle_timeout_s=0)
    with pytest.raises(ConfigError, match="port"):
        VisitorServerSettings(port=70000)
    with pytest.raises(ConfigError, match="origins"):
        VisitorServerSettings(origins="http://x")


def test_server_thread_serves_from_a_background_loop():
    """ServerThread runs the server and the Director in its own loop; a plain client is queued and shown."""
    director, _ = make_director()
    server = PromptServer(director, VisitorServerSettings(host="127.0.0.1", port=0))
    thread = ServerThread(server, background=[director.run])
    port = thread.start()
    try:
        with sync_connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT) as ws:
            ws.send(json.dumps({"type": "prompt", "text": "green moss"}))
            assert json.loads(ws.recv(TIMEOUT))["type"] == "queued"
            assert json.loads(ws.recv(TIMEOUT))["type"] == "showing"
        assert thread.submit(asyncio.sleep(0, result=7)).result(TIMEOUT) == 7
    finally:
        thread.stop()
        thread.stop()  # idempotent
    assert not thread._thread.is_alive()


def test_stop_does_not_wait_for_half_open_or_non_reading_connections():
    """With TCP connections that never finish the handshake and a websocket client that never reads,
    ServerThread.stop() returns promptly (a generous 3 s bound; it used to wait the 10 s open timeout and
    the 3 s close timeout)."""
    import time

    director, _ = make_director()
    server = PromptServer(director, VisitorServerSettings(host="127.0.0.1", port=0))
    thread = ServerThread(server, background=[director.run])
    port = thread.start()
    sockets = []
    try:
        for _ in range(3):  # connected, silent
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        partial = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        partial.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # half a request, never finished
        sockets.append(partial)
        deaf = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        deaf.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sockets.append(deaf)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += deaf.recv(4096)
        assert reply.startswith(b"HTTP/1.1 101")  # a websocket that will never read again
        started = time.monotonic()
        thread.stop(timeout=20)
        took = time.monotonic() - started
        assert not thread._thread.is_alive() and took < 3.0, f"stop took {took:.1f} s"
    finally:
        thread.stop()
        for s in sockets:
            s.close()


def test_port_in_use_is_a_server_error():
    """Starting on a port that is taken raises ServerError (an EngineError) naming the address."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        director, _ = make_director()
        thread = ServerThread(PromptServer(director, VisitorServerSettings(host="127.0.0.1", port=port)))
        with pytest.raises(ServerError, match=f"127.0.0.1:{port}") as err:
            thread.start()
    assert isinstance(err.value, EngineError)


def _self_signed(tmp_path):
    """A throwaway self-signed certificate for 127.0.0.1, made by the openssl command (skips without it)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_with_a_certificate_the_page_and_websocket_are_served_over_tls(tmp_path):
    """tls_cert/tls_key: the page comes over https, the websocket over wss, and the address handed out
    (the QR code's) starts with https; plain http on that port gets no page."""
    import ssl
    import urllib.request

    cert, key = _self_signed(tmp_path)
    client = ssl.create_default_context(cafile=str(cert))

    async def scenario():
        async with running(tls_cert=str(cert), tls_key=str(key)) as (server, url):
            assert server.url.startswith("https://")
            page = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"https://127.0.0.1:{server.port}/", context=client, timeout=5).read()
            )
            assert b"<form" in page
            assert server.page.page_url().startswith("https://")
            async with connect(f"wss://127.0.0.1:{server.port}/ws", ssl=client) as ws:
                assert (await ask(ws, {"type": "prompt", "text": "ink"}))["type"] == "queued"
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), TIMEOUT)
            writer.close()
            assert b"HTTP/1.1 200" not in raw and b"<form" not in raw

    run(scenario())


def test_a_bad_certificate_is_a_clear_server_error(tmp_path):
    """A key that does not load is a ServerError naming the files; only one of cert/key is a settings error."""
    cert, key = _self_signed(tmp_path)
    key.write_text("not a key")

    async def scenario():
        with pytest.raises(ServerError) as err:
            async with running(tls_cert=str(cert), tls_key=str(key)):
                pass
        assert str(key) in str(err.value)

    run(scenario())
    with pytest.raises(ConfigError):
        VisitorServerSettings(tls_cert=str(cert))
