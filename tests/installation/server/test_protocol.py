import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError, EngineError
from installation.server import protocol
from installation.server.protocol import (
    ConnectionLimiter,
    FloodGuard,
    Ping,
    PromptMessage,
    ProtocolLimits,
    ProtocolViolation,
    RateLimiter,
    Resume,
    decode_text_frame,
    parse_message,
)

LIMITS = ProtocolLimits()


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def violation(data, limits=LIMITS, **kw) -> ProtocolViolation:
    with pytest.raises(ProtocolViolation) as err:
        parse_message(data, limits, **kw)
    return err.value


# -- parsing ------------------------------------------------------------------------------------------
def test_prompt_is_parsed_and_whitespace_normalised():
    """A prompt message gives its text with runs of whitespace collapsed and the ends trimmed."""
    msg = parse_message(json.dumps({"type": "prompt", "text": "  a harbour\n\tat   dusk  "}))
    assert msg == PromptMessage("a harbour at dusk")


def test_ping_is_parsed_and_pong_is_the_answer():
    """{"type":"ping"} parses to Ping, and the server's answer is {"type":"pong"}."""
    assert parse_message('{"type":"ping"}') == Ping()
    assert json.loads(protocol.encode(protocol.pong())) == {"type": "pong"}


def test_resume_carries_its_token_and_a_bad_token_is_not_understood():
    """{"type": "resume", "token": "..."} parses to Resume; a missing, non-string, empty or over-64-character
    token is an error reply that keeps the connection."""
    assert parse_message('{"type": "resume", "token": "abc_-123"}') == Resume("abc_-123")
    for token in (None, 7, "", "x" * 65, ["a"]):
        v = violation(json.dumps({"type": "resume", "token": token}))
        assert v.reply["type"] == "error" and not v.closes


def test_unknown_fields_are_ignored():
    """Extra fields do not stop a prompt (newer pages may send more)."""
    assert parse_message('{"type":"prompt","text":"moss","lang":"en"}') == PromptMessage("moss")


def test_prompt_is_nfc_normalised():
    """A decomposed accent is composed, so the same words always look the same downstream."""
    assert parse_message(json.dumps({"type": "prompt", "text": "cafe\u0301"})).text == "caf\u00e9"


def test_binary_frame_is_refused_with_1003():
    """A binary frame gets an error reply and close code 1003."""
    v = violation(b'{"type":"prompt","text":"hi"}')
    assert v.reply == {"type": "error", "reason": protocol.REASON_BINARY}
    assert v.closes and v.close_code == 1003


def test_invalid_utf8_in_a_text_frame_is_refused_with_1007():
    """Raw text-frame bytes that are not UTF-8 get an error reply and close code 1007."""
    v = violation(b'{"type":"prompt","text":"\xff\xfe"}', binary=False)
    assert v.reply["type"] == "error" and v.close_code == 1007
    assert decode_text_frame(b'{"type":"ping"}', LIMITS) == '{"type":"ping"}'


@pytest.mark.parametrize("data", ["", "{", "not json", '{"type":"prompt","text":"x"', "\x00", "[1,2", "1e99999x"])
def test_unparseable_json_is_refused_with_1007(data):
    """Text that is not JSON gets an error reply and close code 1007."""
    v = violation(data)
    assert v.reply == {"type": "error", "reason": protocol.REASON_UNREADABLE} and v.close_code == 1007


def test_deeply_nested_json_is_refused_not_crashing():
    """JSON nested deeper than the parser's recursion limit is refused like any unreadable message."""
    v = violation("[" * 2000 + "]" * 2000)
    assert v.close_code == 1007


@pytest.mark.parametrize(
    "data",
    [
        "[]",
        '"prompt"',
        "42",
        "null",
        "{}",
        '{"type":"dance"}',
        '{"type":5}',
        '{"type":"prompt"}',
        '{"type":"prompt","text":5}',
        '{"type":"prompt","text":null}',
        '{"type":"prompt","text":["a"]}',
    ],
)
def test_wrong_schema_gets_an_error_and_the_connection_stays(data):
    """Well-formed JSON of the wrong shape gets an error reply and does not close the connection."""
    v = violation(data)
    assert v.reply == {"type": "error", "reason": protocol.REASON_NOT_UNDERSTOOD}
    assert not v.closes


def test_oversize_message_is_refused_with_1009():
    """A message over max_message_bytes (counted in UTF-8 bytes) is refused with close code 1009."""
    limits = ProtocolLimits(max_message_bytes=100)
    v = violation(json.dumps({"type": "prompt", "text": "é" * 45}, ensure_ascii=False), limits)
    assert v.close_code == 1009 and v.reply["reason"] == protocol.REASON_TOO_BIG


@pytest.mark.parametrize("text", ["", "   ", "\n\t \u00a0"])
def test_empty_prompt_is_rejected(text):
    """An empty or all-whitespace prompt is rejected with a reason; the connection stays."""
    v = violation(json.dumps({"type": "prompt", "text": text}))
    assert v.reply == {"type": "rejected", "reason": protocol.REASON_EMPTY} and not v.closes


@pytest.mark.parametrize(
    "text",
    [
        "\u200b\u200b",
        "\u3164",
        "\ufeff \u2060",
        "\U000e0041\U000e0042\U000e007f",
        "\u115f\u1160\uffa0",
        "\u2800\u00ad\u034f\ufe0f",
        " \u200c\u200d ",
    ],
)
def test_a_prompt_of_invisible_characters_is_rejected_as_empty(text):
    """Zero-width spaces, Hangul fillers, the BOM, tag characters, variation selectors: a prompt made only
    of characters that draw nothing is rejected as empty (it would put a blank prompt on the wall)."""
    v = violation(json.dumps({"type": "prompt", "text": text}))
    assert v.reply == {"type": "rejected", "reason": protocol.REASON_EMPTY} and not v.closes


def test_invisible_characters_inside_a_visible_prompt_are_kept():
    """An emoji sequence with a zero-width joiner and a variation selector is a real prompt and passes."""
    text = "family \U0001f468\u200d\U0001f469\u200d\U0001f467 and a red heart \u2764\ufe0f"
    assert parse_message(json.dumps({"type": "prompt", "text": text}, ensure_ascii=False)).text == text


@pytest.mark.parametrize(
    "data", ['{"type": "prompt", "text": "x", "n": NaN}', '{"type": "ping", "x": Infinity}', "[-Infinity]"]
)
def test_nan_and_infinity_are_not_json_and_close_with_1007(data):
    """NaN, Infinity and -Infinity (which Python's json accepts) are refused like any text that is not JSON."""
    v = violation(data)
    assert v.reply == {"type": "error", "reason": protocol.REASON_UNREADABLE} and v.close_code == 1007


def test_overlong_prompt_is_rejected_but_280_characters_pass():
    """280 characters (after normalisation) pass; 281 are rejected with the limit in the reason."""
    assert len(parse_message(json.dumps({"type": "prompt", "text": "a" * 280})).text) == 280
    v = violation(json.dumps({"type": "prompt", "text": "a" * 281}))
    assert v.reply == {"type": "rejected", "reason": "Keep it to 280 characters or fewer."} and not v.closes


def test_whitespace_does_not_count_towards_the_limit():
    """Padding a 280-character prompt with spaces still passes: the limit applies after normalisation."""
    assert parse_message(json.dumps({"type": "prompt", "text": "   " + "b" * 280 + "\n\n"})).text == "b" * 280


@pytest.mark.parametrize(
    "text",
    [
        "bell\x07",
        "nul\x00here",
        "esc\x1b[31m",
        "del\x7f",
        "rtl\u202eoverride",
        "isolate\u2066x",
        "lone \ud800 surrogate",
        "non\ufffe",
        "non\ufdd0",
    ],
)
def test_control_characters_are_rejected(text):
    """Control characters, bidi overrides, lone surrogates and noncharacters are rejected."""
    v = violation(json.dumps({"type": "prompt", "text": text}))
    assert v.reply == {"type": "rejected", "reason": protocol.REASON_CONTROL} and not v.closes


def test_emoji_and_other_scripts_pass():
    """Emoji (with joiners), accents and non-Latin scripts are ordinary prompts."""
    for text in ["🌊 sea 👩‍🎨", "ночное море", "東京の夜", "صحراء ذهبية", "Mühle am Bach"]:
        assert parse_message(json.dumps({"type": "prompt", "text": text})).text == text


def test_reasons_never_echo_the_message():
    """No reply repeats what the visitor sent."""
    secret = "zebra-unicorn-42"
    for data in [secret, json.dumps({"type": secret}), json.dumps({"type": "prompt", "text": secret * 30})]:
        assert secret not in json.dumps(violation(data).reply)


def test_violation_is_an_engine_error():
    """ProtocolViolation belongs to Laterna's one exception tree."""
    assert issubclass(ProtocolViolation, EngineError)


def test_limits_are_validated():
    """Nonsense limits are a ConfigError naming the field."""
    with pytest.raises(ConfigError, match="max_prompt_chars"):
        ProtocolLimits(max_prompt_chars=0)


def test_encode_refuses_what_is_not_a_server_message():
    """encode() writes only the server's message types."""
    assert json.loads(protocol.encode(protocol.queued("p1", 2))) == {"type": "queued", "id": "p1", "position": 2}
    with pytest.raises(ValueError):
        protocol.encode({"type": "prompt", "text": "x"})


# -- fuzzing -------------------------------------------------------------------------------------------
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _only_violations(data, **kw):
    try:
        result = parse_message(data, LIMITS, **kw)
    except ProtocolViolation as v:
        assert v.reply["type"] in ("error", "rejected") and isinstance(v.reply["reason"], str)
        assert v.close_code in (None, 1003, 1007, 1008, 1009)
        json.dumps(v.reply)  # always sendable
        return None
    assert isinstance(result, (PromptMessage, Ping))
    if isinstance(result, PromptMessage):
        assert 0 < len(result.text) <= LIMITS.max_prompt_chars
        assert result.text == " ".join(result.text.split())
    return result


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=5000))
def test_fuzz_arbitrary_text_only_raises_violations(data):
    """Any text frame parses or raises ProtocolViolation, nothing else."""
    _only_violations(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5000), st.booleans())
def test_fuzz_arbitrary_bytes_only_raise_violations(data, as_text):
    """Any bytes, as a binary frame or as a raw text-frame payload, parse or raise ProtocolViolation."""
    _only_violations(data, binary=not as_text)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"type": st.sampled_from(["prompt", "ping", "x"])}, optional={"text": JSONISH}))
def test_fuzz_schema_shaped_messages_only_raise_violations(message):
    """Messages that look nearly right parse or raise ProtocolViolation, nothing else."""
    _only_violations(json.dumps(message))


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=400))
def test_fuzz_prompt_texts_parse_to_normalised_text_or_a_rejection(text):
    """Any prompt text becomes normalised text within the limit, or a 'rejected' reply that keeps the connection."""
    try:
        parse_message(json.dumps({"type": "prompt", "text": text}), LIMITS)
    except ProtocolViolation as v:
        assert v.reply["type"] == "rejected" and not v.closes


# -- rate limits ---------------------------------------------------------------------------------------
def test_token_bucket_allows_a_burst_then_the_rate():
    """A bucket gives `burst` at once, then one token per 1/rate seconds."""
    clock = Clock()
    rl = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [rl.allow("k") for _ in range(4)] == [True, True, True, False]
    clock.t += 0.5
    assert rl.allow("k") and not rl.allow("k")


def test_token_buckets_are_per_key():
    """One key running dry does not affect another."""
    rl = RateLimiter(rate=1.0, burst=1, clock=Clock())
    assert rl.allow("a") and not rl.allow("a") and rl.allow("b")


def test_full_buckets_are_forgotten():
    """Keys whose buckets have refilled are dropped, so memory follows recent activity only."""
    clock = Clock()
    rl = RateLimiter(rate=10.0, burst=2, clock=clock)
    for i in range(100):
        rl.allow(i)
    clock.t += 10
    rl.allow("new")
    assert len(rl) == 1


def test_flood_guard_warns_then_closes_with_1008():
    """Going over the rate gets one 'slow down' error reply, then a close with 1008."""
    clock = Clock()
    guard = FloodGuard(RateLimiter(1.0, 2, clock), RateLimiter(100.0, 100, clock), warnings=1)
    guard.admit("c1", "10.0.0.1")
    guard.admit("c1", "10.0.0.1")
    with pytest.raises(ProtocolViolation) as first:
        guard.admit("c1", "10.0.0.1")
    assert first.value.reply == {"type": "error", "reason": protocol.REASON_SLOW_DOWN} and not first.value.closes
    with pytest.raises(ProtocolViolation) as second:
        guard.admit("c1", "10.0.0.1")
    assert second.value.close_code == 1008


def test_flood_guard_forgives_after_a_quiet_spell():
    """A connection that keeps to the rate for forgive_s gets its warning back."""
    clock = Clock()
    guard = FloodGuard(RateLimiter(1.0, 1, clock), RateLimiter(100.0, 100, clock), warnings=1, forgive_s=10)
    guard.admit("c", "a")
    with pytest.raises(ProtocolViolation) as warned:
        guard.admit("c", "a")
    assert not warned.value.closes
    clock.t += 11
    guard.admit("c", "a")
    with pytest.raises(ProtocolViolation) as again:
        guard.admit("c", "a")
    assert not again.value.closes


def test_flood_guard_limits_an_address_across_connections():
    """Many connections from one address share the address's bucket; another address is unaffected."""
    clock = Clock()
    guard = FloodGuard(RateLimiter(100.0, 100, clock), RateLimiter(1.0, 3, clock), warnings=0)
    for conn in ("c1", "c2", "c3"):
        guard.admit(conn, "10.0.0.1")
    with pytest.raises(ProtocolViolation) as err:
        guard.admit("c4", "10.0.0.1")
    assert err.value.close_code == 1008
    guard.admit("c5", "10.0.0.2")


def test_connection_limiter_caps_per_address_and_in_total():
    """Slots are capped per address and in total, and come back on release."""
    cl = ConnectionLimiter(max_total=3, max_per_address=2)
    assert cl.try_acquire("a") and cl.try_acquire("a") and not cl.try_acquire("a")
    assert cl.try_acquire("b") and not cl.try_acquire("c")
    assert not cl.would_admit("c")
    cl.release("a")
    assert cl.would_admit("c") and cl.count("a") == 1 and cl.total == 2
    cl.release("zzz")  # releasing what was never held changes nothing
    assert cl.total == 2
