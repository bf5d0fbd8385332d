import asyncio
import dataclasses
import json
import logging
import math

import cv2
import numpy as np
import pytest

from engine.events import Blackout, Freeze, SelectSource, SetStrength, SetTransition, Snapshot, TargetChanged
from engine.style import StyleMix
from installation.control.show_control import LoopView, ShowControl, WarningLog, handle_message
from tests.installation.prompts.toy_director import STYLES, make_director

NAMES = [s.name for s in STYLES]  # ink, ember, moss


class Show:
    """A real Director and Moderator (toy interpreter), a list for posted events, and settable providers."""

    def __init__(self, tmp_path) -> None:
        self.director, _ = make_director()
        self.posted: list = []
        self.accept_posts = True
        self.target = StyleMix.single(3, 0, 0.8, 0.1)
        self.frame: np.ndarray | None = np.full((90, 160, 3), (200, 120, 40), np.uint8)
        self.stats = {"fps": 29.5, "latency_ms": {"p50": 41.0, "p99": 60.0}, "backend": "onnxruntime", "dropped": 2}
        self.warnings = WarningLog(capacity=5)
        self.flags = {"blackout": False, "frozen": False}
        self.selected = "live"
        view = LoopView(
            self.post,
            lambda: self.stats,
            lambda: self.target,
            lambda: self.frame,
            flags=lambda: dict(self.flags),
            sources=("live", "generator"),
            selected_source=lambda: self.selected,
        )
        self.control = ShowControl(view, self.director, NAMES, tmp_path / "snapshots", self.warnings)

    def post(self, event) -> bool:
        if self.accept_posts:
            self.posted.append(event)
            if isinstance(event, (Blackout, Freeze)):  # as the frame loop applies them
                self.flags["blackout" if isinstance(event, Blackout) else "frozen"] = event.on
        return self.accept_posts

    def submit(self, visitor: str, text: str) -> dict:
        return asyncio.run(self.director.submit(visitor, text))


@pytest.fixture
def show(tmp_path):
    return Show(tmp_path)


# -- state ------------------------------------------------------------------------------------------------
def test_state_shows_queue_in_order_without_visitor_ids(show):
    """The queue comes with ids, texts, 1-based positions and waiting times, and never a visitor id."""
    show.submit("visitor-secret-a", "green moss")
    show.submit("visitor-secret-b", "warm fire glow")
    state = show.control.state()
    assert [(q["text"], q["position"]) for q in state["queue"]] == [("green moss", 1), ("warm fire glow", 2)]
    assert all(set(q) == {"id", "text", "position", "waited_s"} and q["waited_s"] >= 0 for q in state["queue"])
    assert "visitor-secret" not in json.dumps(state)


def test_state_shows_the_prompt_on_screen_mix_and_stats(show):
    """After the Director gives a prompt its turn, the state has it, the named target mix, strength and stats."""
    show.submit("v", "black ink mist")
    asyncio.run(show.director.step())
    state = show.control.state()
    assert state["mode"] == "prompt" and state["prompt"]["text"] == "black ink mist" and state["queue"] == []
    assert state["mix"] == {"ink": 1.0, "ember": 0.0, "moss": 0.0} and state["strength"] == 0.8
    assert state["stats"]["fps"] == 29.5 and state["styles"] == NAMES
    assert state["pinned"] is None and state["blackout"] is False and state["frozen"] is False
    json.dumps(state)  # JSON-able as it is


def test_a_failing_provider_leaves_the_rest_of_the_state_and_warns_once(show, caplog):
    """If stats raise, state() still answers (stats {}), with one warning however often it is asked."""

    def broken():
        raise RuntimeError("loop gone")

    show.control.loop = dataclasses.replace(show.control.loop, stats=broken)
    with caplog.at_level(logging.WARNING, logger="installation.control.show_control"):
        states = [show.control.state() for _ in range(3)]
    assert all(s["stats"] == {} and s["styles"] == NAMES for s in states)
    assert len([r for r in caplog.records if "not available" in r.getMessage()]) == 1


def test_recent_warnings_of_engine_and_installation_loggers_reach_the_state(show):
    """WARNING+ records of engine.* and installation.* loggers show in state()['warnings'], newest first."""
    with show.warnings:
        logging.getLogger("engine.sources.camera").warning("camera %s lost", "/dev/video0")
        logging.getLogger("installation.prompts.director").info("not a warning")
        logging.getLogger("installation.stylizer").error("backend fell back to onnxruntime")
        logging.getLogger("elsewhere").warning("not ours")
    warnings = show.control.state()["warnings"]
    assert [w["message"] for w in warnings] == ["backend fell back to onnxruntime", "camera /dev/video0 lost"]
    assert warnings[1]["logger"] == "engine.sources.camera" and warnings[1]["level"] == "WARNING"


# -- commands ------------------------------------------------------------------------------------------
def test_skip_ends_the_current_turn(show):
    """skip makes the Director's next turn due at once."""
    show.submit("v", "green moss")
    asyncio.run(show.director.step())
    show.director.settings = type(show.director.settings)(min_show_s=60.0)
    assert not show.director.turn_due()
    assert show.control.apply({"cmd": "skip"}) == {"ok": True, "cmd": "skip"}
    assert show.director.turn_due()


def test_remove_takes_a_waiting_prompt_out(show):
    """remove with a waiting prompt's id drops it; an unknown id is an error."""
    prompt_id = show.submit("v", "green moss")["id"]
    assert show.control.apply({"cmd": "remove", "id": prompt_id})["ok"]
    assert show.control.state()["queue"] == []
    result = show.control.apply({"cmd": "remove", "id": prompt_id})
    assert result["ok"] is False and prompt_id in result["error"]


def test_block_and_unblock_a_phrase(show):
    """block declines prompts with the phrase from then on (and lists it); unblock lets them through again."""
    assert show.control.apply({"cmd": "block", "phrase": "  Purple   Elephant "}) == {
        "ok": True,
        "cmd": "block",
        "added": True,
    }
    assert not show.director.moderator.check("a purple elephant at dusk").allowed
    assert show.submit("v", "a purple elephant at dusk")["type"] == "rejected"
    assert show.control.state()["blocked_here"] == ["Purple Elephant"]
    assert show.control.apply({"cmd": "block", "phrase": "purple elephant"})["added"] is False
    assert show.control.apply({"cmd": "unblock", "phrase": "purple elephant"})["ok"]
    assert show.director.moderator.check("a purple elephant at dusk").allowed
    assert show.control.state()["blocked_here"] == []
    assert show.control.apply({"cmd": "unblock", "phrase": "purple elephant"})["ok"] is False


def test_pin_posts_the_style_and_holds_the_flag_until_unpinned(show):
    """pin posts a glide to that one style at the current strength and warmth and sets .pinned; null clears it."""
    assert show.control.apply({"cmd": "pin", "style": "ember"}) == {"ok": True, "cmd": "pin", "style": "ember"}
    (event,) = show.posted
    assert isinstance(event, TargetChanged) and event.mix == StyleMix.single(3, 1, 0.8, 0.1)
    assert show.control.pinned == "ember" and show.control.state()["pinned"] == "ember"
    assert show.control.apply({"cmd": "pin", "style": None})["ok"]
    assert show.control.pinned is None and len(show.posted) == 1


def test_strength_transition_blackout_and_freeze_post_their_events(show):
    """strength, transition, blackout and freeze post SetStrength, SetTransition, Blackout and Freeze."""
    for command in [
        {"cmd": "strength", "value": 0.25},
        {"cmd": "strength", "value": 1, "seconds": 0},
        {"cmd": "transition", "seconds": 4},
        {"cmd": "blackout", "on": True},
        {"cmd": "freeze", "on": True},
        {"cmd": "freeze", "on": False},
    ]:
        assert show.control.apply(command)["ok"], command
    assert show.posted == [
        SetStrength(0.25, 0.5),
        SetStrength(1.0, 0.0),
        SetTransition(4.0),
        Blackout(True),
        Freeze(True),
        Freeze(False),
    ]
    state = show.control.state()
    assert state["transition_s"] == 4.0 and state["blackout"] is True and state["frozen"] is False


def test_snapshot_posts_a_timestamped_png_path_under_the_snapshot_folder(show, tmp_path):
    """snapshot posts Snapshot(path) for a new .png under snapshot_dir and answers with that path."""
    first = show.control.apply({"cmd": "snapshot"})
    second = show.control.apply({"cmd": "snapshot"})
    assert first["ok"] and second["ok"] and first["path"] != second["path"]
    assert [type(e) for e in show.posted] == [Snapshot, Snapshot]
    assert str(show.posted[0].path) == first["path"]
    path = show.posted[0].path
    assert path.parent == tmp_path / "snapshots" and path.suffix == ".png" and path.name.startswith("laterna-")


BAD_COMMANDS = {
    "skip": [],
    "remove": [{}, {"id": 7}, {"id": ""}, {"id": "x" * 65}],
    "block": [{}, {"phrase": ""}, {"phrase": "!!!"}, {"phrase": ["a"]}, {"phrase": "x" * 101}],
    "unblock": [{}, {"phrase": None}],
    "pin": [{}, {"style": "sepia"}, {"style": 1}, {"style": ""}],
    "strength": [
        {},
        {"value": 1.5},
        {"value": -0.1},
        {"value": "0.5"},
        {"value": True},
        {"value": math.nan},
        {"value": 0.5, "seconds": -1},
        {"value": 0.5, "seconds": "soon"},
    ],
    "transition": [{}, {"seconds": -1}, {"seconds": math.inf}, {"seconds": 601}, {"seconds": None}],
    "blackout": [{}, {"on": "yes"}, {"on": 1}],
    "freeze": [{}, {"on": None}, {"on": 0}],
    "snapshot": [],
    "source": [{}, {"name": "projector"}, {"name": 1}, {"name": None}],
    "close_viewer": [{}, {"id": 7}, {"id": "no-such-viewer"}, {"id": "x" * 65}],
    "warp": [{}, {"output": 1, "point": 0, "by": [0.01, 0]}],  # this show has no projector windows
    "warp_save": [{}],
    "pattern": [{}, {"on": "yes"}, {"on": True}],  # on: true too, as this show has no projector windows
}


@pytest.mark.parametrize("name", list(BAD_COMMANDS))
def test_every_command_validates_its_arguments(show, name):
    """Each command with missing, mistyped or out-of-range arguments answers ok: false and changes nothing."""
    assert set(BAD_COMMANDS) == set(show.control.commands)  # a new command needs its bad cases here
    for extra in BAD_COMMANDS[name]:
        result = show.control.apply({"cmd": name, **extra})
        assert result["ok"] is False and isinstance(result["error"], str) and result["error"], extra
    assert show.posted == [] and show.control.pinned is None


@pytest.mark.parametrize("command", [None, [], "skip", {}, {"cmd": "dance"}, {"cmd": None}, {"cmd": ["skip"]}])
def test_commands_that_are_not_commands_are_refused(show, command):
    """Anything but an object with a known 'cmd' answers ok: false with the list of commands."""
    result = show.control.apply(command)
    assert result["ok"] is False and "error" in result


def test_source_command_crossfades_to_a_source_of_the_switch(show):
    """{"cmd": "source", "name": "generator"} posts SelectSource; the state lists the switch's sources and
    the source now on screen (from the loop's stats); a show without a switch refuses with a hint."""
    result = show.control.apply({"cmd": "source", "name": "generator"})
    assert result == {"ok": True, "cmd": "source", "name": "generator"}
    assert show.posted == [SelectSource("generator")]
    show.stats["source"], show.selected = "generator", "generator"  # the loop applied it
    state = show.control.state()
    assert state["sources"] == ["live", "generator"] and state["source"] == "generator"
    assert state["selected_source"] == "generator"
    show.control.sources = ()
    refused = show.control.apply({"cmd": "source", "name": "generator"})
    assert refused["ok"] is False and "attract.source" in refused["error"]


def test_blackout_from_opening_hours_shows_on_the_panel(show):
    """The panel's blackout and freeze flags are the loop's, so a blackout the opening hours caused shows too."""
    assert show.control.state()["blackout"] is False
    show.flags["blackout"] = True  # the hours watch blacked the show out; no operator command was sent
    assert show.control.state()["blackout"] is True and show.control.state()["frozen"] is False


def test_a_busy_frame_loop_is_an_error_not_a_success(show):
    """If post() refuses the event (the loop's queue is full), the command answers ok: false."""
    show.accept_posts = False
    result = show.control.apply({"cmd": "blackout", "on": True})
    assert result["ok"] is False and "busy" in result["error"] and show.control.state()["blackout"] is False


def test_a_failing_director_never_raises_into_the_server(show, caplog):
    """An exception inside a command is logged and answered ok: false."""

    def broken():
        raise RuntimeError("director exploded")

    show.director.skip = broken
    with caplog.at_level(logging.ERROR, logger="installation.control.show_control"):
        result = show.control.apply({"cmd": "skip"})
    assert result["ok"] is False and "director exploded" not in result["error"]
    assert any("failed" in r.getMessage() for r in caplog.records)


# -- preview and messages ---------------------------------------------------------------------------
def test_preview_is_a_jpeg_of_the_picture_scaled_to_the_width(show):
    """preview_jpeg() encodes the RGB picture as JPEG, 320 wide, aspect kept, colours in the right order."""
    data = show.control.preview_jpeg()
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert data[:2] == b"\xff\xd8" and picture.shape == (180, 320, 3)
    assert np.allclose(picture[90, 160], (40, 120, 200), atol=6)  # BGR of the RGB (200, 120, 40)
    assert cv2.imdecode(np.frombuffer(show.control.preview_jpeg(64), np.uint8), 1).shape == (36, 64, 3)


def test_no_picture_or_a_malformed_one_gives_no_preview(show):
    """Before the first frame (None), or for a picture that is not RGB uint8, the preview is None."""
    show.frame = None
    assert show.control.preview_jpeg() is None
    show.frame = np.zeros((10, 10), np.float32)
    assert show.control.preview_jpeg() is None


def test_handle_message_echoes_ref_and_refuses_what_is_not_json(show):
    """A JSON command gets a 'result' with its ref; non-JSON and binary messages get ok: false."""
    assert handle_message(show.control, '{"cmd": "freeze", "on": true, "ref": 7}') == {
        "type": "result",
        "ref": 7,
        "ok": True,
        "cmd": "freeze",
        "on": True,
    }
    assert handle_message(show.control, "{nope")["ok"] is False
    assert handle_message(show.control, b'{"cmd": "skip"}')["ok"] is False
    assert handle_message(show.control, "[1, 2]") == {
        "type": "result",
        "ok": False,
        "error": show.control.apply([1, 2])["error"],
    }


def test_a_huge_number_in_a_command_is_refused_not_raised(show):
    """A 400-digit integer as ref or value (json accepts it; math.isfinite overflows on it) is an ordinary
    reply: the ref is not echoed, the value is refused, nothing raises into the websocket handler."""
    huge = "9" * 400
    reply = handle_message(show.control, f'{{"cmd": "skip", "ref": {huge}}}')
    assert reply == {"type": "result", "ok": True, "cmd": "skip"}
    reply = handle_message(show.control, f'{{"cmd": "strength", "value": {huge}, "ref": 2}}')
    assert reply["ok"] is False and reply["ref"] == 2 and "strength" not in show.posted


# -- what the sources are ------------------------------------------------------------------------------------
def test_source_labels_say_what_each_input_is_now(tmp_path):
    """ "Live camera" is never claimed without a camera: the pattern says so, a broken video says what shows
    instead, the generator is the dream; the panel's state carries the labels."""
    from engine.sources.fallback import FallbackSource
    from engine.sources.pattern import PatternSource
    from engine.sources.transform import TransformedSource
    from engine.sources.video import VideoSource
    from installation.control.show_control import source_label

    pattern = TransformedSource(PatternSource(width=32, height=24), 32, 24)
    assert source_label("live", pattern) == "Live: pattern"
    broken = tmp_path / "clip.avi"
    broken.write_bytes(b"not a video")
    lost = TransformedSource(FallbackSource(VideoSource(path=broken), PatternSource(width=32, height=24)), 32, 24)
    lost.open()
    try:
        lost.read()
        assert source_label("live", lost) == "video clip.avi lost: showing pattern"
    finally:
        lost.close()
    assert source_label("generator", pattern) == "Dream (generator)"
    show = Show(tmp_path)
    show.control.loop = dataclasses.replace(show.control.loop, source_labels=lambda: {"live": "Live: pattern"})
    assert show.control.state()["source_labels"] == {"live": "Live: pattern"}


def test_a_show_without_streams_has_none_in_the_state(show):
    """No stream outputs: the panel's state says streams: None (the panel hides the card)."""
    assert show.control.state()["streams"] is None


def test_the_state_lists_stream_viewers_and_close_viewer_closes_one(tmp_path):
    """With stream outputs, the state carries each output's stats and each viewer; close_viewer ends one."""
    from engine.sinks.fanout import FanoutSink, OutputSpec

    sink = FanoutSink([OutputSpec("main", 64, 36)], max_viewers=4)
    closed: list[str] = []
    handle = sink.output("main").add_viewer("mjpeg", "VLC/3.0.20", on_close=closed.append)
    control = ShowControl(
        LoopView(lambda e: True, dict, lambda: None, lambda: None), None, NAMES, tmp_path, WarningLog(), streams=sink
    )
    streams = control.state()["streams"]
    assert streams["max_viewers"] == 4 and streams["outputs"]["main"]["viewers"] == 1
    assert [(v["id"], v["kind"], v["peer"], v["output"]) for v in streams["viewers"]] == [
        (handle.id, "mjpeg", "VLC/3.0.20", "main")
    ]
    assert control.apply({"cmd": "close_viewer", "id": handle.id}) == {
        "ok": True,
        "cmd": "close_viewer",
        "id": handle.id,
    }
    assert closed == ["closed by the operator"] and control.state()["streams"]["viewers"] == []


WARP_SHOW = """\
# two projectors
display:
  - {width: 320, height: 180, region: [0, 0, 320, 180]}
  - {width: 320, height: 180, region: [256, 0, 320, 180]}   # the right one
"""


def with_projectors(show, tmp_path):
    from installation.calibration import Calibration
    from installation.config.schema import load_config

    path = tmp_path / "show.yaml"
    path.write_text(WARP_SHOW)
    show.control.calibration = Calibration(load_config(path).display)
    show.control.config_path = path
    return path


def test_warp_nudges_a_projectors_mesh_point_live(show, tmp_path):
    """{"cmd": "warp", "output": 2, "point": 12, "by": [...]} posts SetWarp with that point moved on projector 2."""
    from engine.events import SetWarp

    with_projectors(show, tmp_path)
    result = show.control.apply({"cmd": "warp", "output": 2, "point": 12, "by": [0.02, -0.01]})
    assert result == {"ok": True, "cmd": "warp", "output": 2, "mode": "mesh", "point": 12, "at": [0.52, 0.49]}
    (event,) = show.posted
    assert isinstance(event, SetWarp) and event.output == 1 and event.keystone is None
    assert event.mesh[2][2] == (0.52, 0.49) and event.mesh[0][0] == (0.0, 0.0)
    corner = show.control.apply({"cmd": "warp", "output": 1, "mode": "corners", "point": 1, "by": [-0.01, 0.0]})
    assert corner["ok"] and show.posted[-1].output == 0 and show.posted[-1].keystone[1] == (0.99, 0.0)


@pytest.mark.parametrize(
    "extra",
    [
        {"output": 3, "point": 0, "by": [0, 0]},
        {"output": 0, "point": 0, "by": [0, 0]},
        {"output": 1.0, "point": 0, "by": [0, 0]},
        {"output": 1, "point": 25, "by": [0, 0]},
        {"output": 1, "mode": "corners", "point": 4, "by": [0, 0]},
        {"output": 1, "mode": "bezier", "point": 0, "by": [0, 0]},
        {"output": 1, "point": 0, "by": [0.5, 0]},
        {"output": 1, "point": 0, "by": [math.nan, 0]},
        {"output": 1, "point": 0, "by": [0.01]},
        {"output": 1, "point": 0, "by": "left"},
        {"output": 1, "point": 0, "to": [1.6, 0.5]},
        {"output": 1, "point": 0, "to": [0.5, math.inf]},
        {"output": 1, "point": 0, "to": [True, 0.5]},
        {"output": 1, "point": 0, "to": None},
    ],
)
def test_warp_refuses_bad_arguments_and_moves_nothing(show, tmp_path, extra):
    """A projector or point that does not exist, an unknown mode or a step over 0.1 is refused; nothing posted."""
    with_projectors(show, tmp_path)
    before = [[list(map(list, row)) for row in o.mesh] for o in show.control.calibration.outputs]
    assert show.control.apply({"cmd": "warp", **extra})["ok"] is False
    assert show.posted == []
    assert [o.mesh for o in show.control.calibration.outputs] == before


def test_a_busy_loop_leaves_the_warp_point_where_it_was(show, tmp_path):
    """When the frame loop cannot take the warp, the point is not moved either (panel and wall agree)."""
    with_projectors(show, tmp_path)
    show.accept_posts = False
    assert show.control.apply({"cmd": "warp", "output": 2, "point": 12, "by": [0.02, 0]})["ok"] is False
    assert show.control.calibration.outputs[1].mesh[2][2] == [0.5, 0.5]


def test_warp_save_writes_the_file_with_a_backup(show, tmp_path):
    """warp_save puts the nudged mesh into the show's file (comments kept) and the old file in .bak."""
    from installation.config.schema import load_config

    path = with_projectors(show, tmp_path)
    show.control.apply({"cmd": "warp", "output": 2, "point": 12, "by": [0.02, 0.0]})
    result = show.control.apply({"cmd": "warp_save"})
    assert result["ok"] and result["backup"] == str(tmp_path / "show.yaml.bak")
    assert load_config(path).display.outputs[0].mesh[2][2] == (0.52, 0.5)
    assert "# the right one" in path.read_text() and (tmp_path / "show.yaml.bak").read_text() == WARP_SHOW


def test_warp_to_puts_a_point_where_a_drag_left_it(show, tmp_path):
    """{"to": [x, y]} (the calibration page's drag) places the point there, rounded to 4 decimals, and posts
    SetWarp with it; "to" wins over "by"."""
    from engine.events import SetWarp

    with_projectors(show, tmp_path)
    result = show.control.apply({"cmd": "warp", "output": 2, "point": 6, "to": [0.312345, 0.2], "by": [0.1, 0.1]})
    assert result == {"ok": True, "cmd": "warp", "output": 2, "mode": "mesh", "point": 6, "at": [0.3123, 0.2]}
    (event,) = show.posted
    assert isinstance(event, SetWarp) and event.output == 1 and event.mesh[1][1] == (0.3123, 0.2)


def test_the_state_describes_each_projector_for_the_calibration_page(show, tmp_path):
    """With projector windows, state["projectors"] has each one's window size, region, corners and mesh, what is
    selected, the pattern flag and whether saving is possible; without, it is None."""
    assert show.control.state()["projectors"] is None
    with_projectors(show, tmp_path)
    show.control.apply({"cmd": "warp", "output": 2, "mode": "corners", "point": 3, "to": [0.1, 0.9]})
    state = show.control.state()["projectors"]
    first, second = state["outputs"]
    assert first["number"] == 1 and first["size"] == [320, 180] and second["region"] == [256, 0, 320, 180]
    assert second["corners"][3] == [0.1, 0.9] and len(second["mesh"]) == 5 and second["mesh"][2][2] == [0.5, 0.5]
    assert state["selected"] == {"output": 2, "mode": "corners", "point": 3}
    assert state["pattern"] is False and state["can_save"] is True
    json.dumps(state)


def test_pattern_shows_the_test_pattern_and_its_marks_follow_the_selected_point(show, tmp_path):
    """pattern on posts ShowStill with the canvas-sized test pattern (the selected projector's points marked);
    a warp while it is on posts it again with the mark moved; pattern off posts ShowStill(None)."""
    from engine.events import SetWarp, ShowStill

    with_projectors(show, tmp_path)
    assert show.control.apply({"cmd": "pattern", "on": True}) == {"ok": True, "cmd": "pattern", "on": True}
    (still,) = show.posted
    assert isinstance(still, ShowStill) and still.pixels.shape == (180, 576, 3)
    assert show.control.state()["projectors"]["pattern"] is True
    # the selected point's red mark, above the pattern's colour bars (which have a red bar of their own)
    red = lambda img: np.argwhere((img[:120] == (255, 0, 0)).all(axis=2))  # noqa: E731
    assert red(still.pixels)[:, 1].max() < 320  # projector 1, point 0: the top-left of the left region
    show.control.apply({"cmd": "warp", "output": 2, "point": 12, "by": [0.0, 0.0]})
    warp, again = show.posted[1:]
    assert isinstance(warp, SetWarp) and isinstance(again, ShowStill)
    centre = red(again.pixels).mean(axis=0)
    assert abs(centre[1] - (256 + 319 / 2)) < 2 and abs(centre[0] - 179 / 2) < 2  # projector 2's centre point
    assert show.control.apply({"cmd": "pattern", "on": False})["ok"] and show.posted[-1] == ShowStill(None)
    assert show.control.state()["projectors"]["pattern"] is False


def test_the_preview_of_one_projector_is_its_region_of_the_picture(show, tmp_path):
    """preview_jpeg(output=2) is the right projector's region of the picture on screen (here at half the canvas
    size, so the region is scaled); a projector that does not exist is refused."""
    from installation.control.show_control import CommandError

    with_projectors(show, tmp_path)
    frame = np.zeros((90, 288, 3), np.uint8)  # the 576x180 canvas at half size
    frame[:, 128:] = (0, 200, 0)  # from canvas x 256 on: projector 2's region
    show.frame = frame
    jpeg = show.control.preview_jpeg(width=160, output=2)
    picture = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert picture.shape == (90, 160, 3) and np.abs(picture.astype(int) - (0, 200, 0)).max() < 12
    with pytest.raises(CommandError):
        show.control.preview_jpeg(output=3)
