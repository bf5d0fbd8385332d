import asyncio
import logging
import threading

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.events import Blackout, SetStrength, SetStyleWeight
from engine.loop import FrameLoop
from engine.pipeline import Stylizer
from engine.sinks.headless import HeadlessSink
from engine.sources.pattern import PatternSource
from engine.style import StyleMix
from installation.control.osc import OscControl, OscFeedback, director_submitter
from tests.conftest import TINY_STYLES

NAMES = ["ink", "ember", "moss"]


class Posted:
    """A loop_post that records events and lets a test wait until n have arrived."""

    def __init__(self):
        self.events = []
        self._cond = threading.Condition()

    def __call__(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        return True

    def wait_for(self, n, timeout=5.0):
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= n, timeout), f"only {self.events} arrived"
        return self.events


@pytest.fixture()
def control():
    posted = Posted()
    prompts = Posted()
    target = {"mix": StyleMix.single(3, 0, strength=0.8)}
    osc = OscControl(posted, NAMES, lambda: target["mix"], prompts, host="127.0.0.1", port=0).start()
    client = SimpleUDPClient("127.0.0.1", osc.port)
    yield osc, client, posted, prompts, target
    osc.stop()


def test_port_zero_binds_a_real_port_and_stop_is_idempotent():
    """With port 0 the server binds a free UDP port, reports it, and stop() can be called twice."""
    osc = OscControl(Posted(), NAMES, lambda: StyleMix.single(3, 0), None, host="127.0.0.1", port=0)
    osc.start()
    assert osc.port > 0 and osc.running
    osc.stop()
    osc.stop()
    assert not osc.running


def test_style_message_posts_one_weight_for_the_loop_to_apply(control):
    """/laterna/style/<name> posts SetStyleWeight for that style: the loop applies it to its own target."""
    osc, client, posted, _, _ = control
    client.send_message("/laterna/style/moss", 1.0)
    (event,) = posted.wait_for(1)
    assert event == SetStyleWeight(2, 1.0, label="osc: moss 1")


def test_strength_and_blackout_messages_post_their_events(control):
    """/laterna/strength posts SetStrength and /laterna/blackout 1/0 posts Blackout(True/False)."""
    osc, client, posted, _, _ = control
    client.send_message("/laterna/strength", 0.25)
    client.send_message("/laterna/blackout", 1)
    client.send_message("/laterna/blackout", 0)
    strength, on, off = posted.wait_for(3)
    assert strength == SetStrength(0.25)
    assert on == Blackout(True) and off == Blackout(False)


def test_prompt_goes_through_submit_prompt(control):
    """/laterna/prompt <text> hands the text to submit_prompt (the visitors' moderation path), not to the loop."""
    osc, client, posted, prompts, _ = control
    client.send_message("/laterna/prompt", "a lighthouse in a storm")
    assert prompts.wait_for(1) == ["a lighthouse in a storm"]
    client.send_message("/laterna/blackout", 0)
    assert posted.wait_for(1) == [Blackout(False)]


def test_bad_messages_are_logged_and_ignored(control, caplog):
    """Unknown style/address, NaN, out-of-range, wrong type and missing arguments are warned about; the server lives."""
    osc, client, posted, prompts, _ = control
    caplog.set_level(logging.WARNING, logger="installation.control.osc")
    client.send_message("/laterna/style/velvet", 1.0)
    client.send_message("/laterna/style/ink", float("nan"))
    client.send_message("/laterna/style/ink", 1.5)
    client.send_message("/laterna/style/ink", "loud")
    client.send_message("/laterna/strength", -0.1)
    client.send_message("/laterna/strength", None)
    client.send_message("/laterna/blackout", 2)
    client.send_message("/laterna/prompt", 42)
    client.send_message("/laterna/nonsense", 1)
    client.send_message("/laterna/strength", 0.5)  # the one good message, handled after all the bad ones
    assert posted.wait_for(1) == [SetStrength(0.5)]
    assert prompts.events == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 9
    assert "unknown style 'velvet'" in warnings[0] and "nan" in warnings[1] and "1.5" in warnings[2]
    assert "unknown address" in warnings[-1]


def test_a_crashing_prompt_handler_does_not_kill_the_server(caplog):
    """If submit_prompt raises, the error is logged and the next message is still handled."""
    posted = Posted()

    def broken(text):
        raise RuntimeError("director gone")

    with OscControl(posted, NAMES, lambda: StyleMix.single(3, 0), broken, host="127.0.0.1", port=0) as osc:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/laterna/prompt", "hello")
        client.send_message("/laterna/blackout", 1)
        assert posted.wait_for(1) == [Blackout(True)]
    assert any(r.exc_info and "director gone" in str(r.exc_info[1]) for r in caplog.records)


def test_director_submitter_runs_submit_on_the_director_loop():
    """director_submitter runs Director.submit(visitor, text) on the director's asyncio loop from another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    got = Posted()

    async def submit(visitor, text):
        got((visitor, text, asyncio.get_running_loop() is loop))
        return {"type": "rejected", "reason": "not today"}

    try:
        director_submitter(submit, loop)("a quiet harbour")
        assert got.wait_for(1) == [("osc", "a quiet harbour", True)]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_osc_style_changes_a_real_frame_loop_after_a_tick(tiny_model):
    """OSC style messages sent over UDP change a real FrameLoop's target once the loop ticks, each building
    on the one before even when both arrive before the tick."""
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
    source = PatternSource(width=64, height=36, fps=60)
    source.open()
    loop = FrameLoop(
        source, stylizer, [HeadlessSink()], StyleMix.single(3, 0), (64, 36), display_fps=60, transition_s=0.0
    )
    arrived = Posted()

    def post(event):
        ok = loop.post(event)
        arrived(event)
        return ok

    with OscControl(post, stylizer.style_names, lambda: loop.target, None, host="127.0.0.1", port=0) as osc:
        assert stylizer.style_names == TINY_STYLES
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/laterna/style/moss", 1.0)
        client.send_message("/laterna/style/ink", 0.0)  # a quick second cue builds on the first
        arrived.wait_for(2)
        assert loop.target.named(TINY_STYLES)["moss"] == 0.0  # nothing changes until the loop applies it
        stats = loop.run(max_frames=2)
    assert loop.target.named(TINY_STYLES) == {"ink": 0.0, "ember": 0.0, "moss": 1.0}
    assert stats["mix"] == {"ink": 0.0, "ember": 0.0, "moss": 1.0}


@pytest.fixture()
def receiver():
    """A real OSC server on loopback collecting (address, args)."""
    got = []
    d = Dispatcher()
    d.set_default_handler(lambda address, *args: got.append((address, args)))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), d)
    server.timeout = 5.0

    def receive(n):
        while len(got) < n:
            before = len(got)
            server.handle_request()
            assert len(got) > before, f"timed out after {got}"
        return dict(got)

    yield server.server_address[1], receive
    server.server_close()


def test_feedback_sends_fps_prompt_and_style_weights(receiver):
    """OscFeedback sends /laterna/fps, /laterna/strength, /laterna/prompt and one /laterna/style/<name> per style."""
    port, receive = receiver
    stats = {"fps": 29.5, "strength": 0.75, "mix": {"ink": 0.25, "ember": 0.75, "moss": 0.0}}
    feedback = OscFeedback("127.0.0.1", port, lambda: stats, lambda: "a red fox")
    try:
        assert feedback.send_once() == 6
        got = receive(6)
    finally:
        feedback.stop()
    assert got["/laterna/fps"] == (29.5,) and got["/laterna/strength"] == (0.75,)
    assert got["/laterna/prompt"] == ("a red fox",)
    assert got["/laterna/style/ink"] == (0.25,) and got["/laterna/style/ember"] == (0.75,)
    assert got["/laterna/style/moss"] == (0.0,)


def test_feedback_on_a_zoned_hub_sends_each_zones_prompt(receiver):
    """With zones, OscFeedback also sends /laterna/zone/<zone>/prompt for every zone ("" where none shows)."""
    port, receive = receiver
    zones = {"room-1": "a red fox", "room-2": None}
    feedback = OscFeedback("127.0.0.1", port, lambda: {"fps": 25.0}, lambda: "a red fox", zones=lambda: zones)
    try:
        assert feedback.send_once() == 4
        got = receive(4)
    finally:
        feedback.stop()
    assert got["/laterna/zone/room-1/prompt"] == ("a red fox",) and got["/laterna/zone/room-2/prompt"] == ("",)
    assert got["/laterna/prompt"] == ("a red fox",)


def test_feedback_thread_sends_at_start_with_empty_prompt(receiver):
    """Started, the feedback thread sends an update at once; no prompt on screen is sent as an empty string."""
    port, receive = receiver
    with OscFeedback("127.0.0.1", port, lambda: {"fps": 12.0, "mix": {}}, lambda: None, every_s=60.0):
        got = receive(2)
    assert got == {"/laterna/fps": (12.0,), "/laterna/prompt": ("",)}


def test_feedback_sends_a_node_lost_alert(receiver):
    """A cluster node going away is sent at once as /laterna/node with its name and "gone"."""
    port, receive = receiver
    feedback = OscFeedback("127.0.0.1", port, lambda: {"fps": 0.0}, lambda: None)
    try:
        assert feedback.node_change("node-2", "gone")
        got = receive(1)
    finally:
        feedback.stop()
    assert got == {"/laterna/node": ("node-2", "gone")}


def test_zone_addresses_reach_only_their_zone_and_plain_ones_the_whole_show(caplog):
    """On a hub with zones, /laterna/zone/room-2/... posts through room-2's control only (its style weights,
    blackout and prompts); the plain addresses stay the show-wide control's; an unknown zone is warned about."""
    show, room_1, room_2 = Posted(), Posted(), Posted()
    prompts_2 = Posted()
    mix = StyleMix.single(3, 0)
    zones = {
        "room-1": OscControl(room_1, NAMES, lambda: mix, None),
        "room-2": OscControl(room_2, NAMES, lambda: mix, prompts_2),
    }
    osc = OscControl(show, NAMES, lambda: mix, None, host="127.0.0.1", port=0, zones=zones).start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        with caplog.at_level(logging.WARNING, logger="installation.control.osc"):
            client.send_message("/laterna/zone/room-9/blackout", 1)
            client.send_message("/laterna/zone/room-2/style/moss", 0.5)
            client.send_message("/laterna/zone/room-2/blackout", 1)
            client.send_message("/laterna/zone/room-2/prompt", "green moss")
            client.send_message("/laterna/blackout", 0)
            assert show.wait_for(1) == [Blackout(False)]  # sent last: everything before it has been handled
        assert room_2.wait_for(2) == [SetStyleWeight(2, 0.5, label="osc: moss 0.5"), Blackout(True)]
        assert prompts_2.wait_for(1) == ["green moss"] and room_1.events == []
        assert any("no zone 'room-9'" in r.getMessage() for r in caplog.records)
    finally:
        osc.stop()
