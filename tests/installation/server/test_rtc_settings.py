"""The streams.webrtc settings: defaults fit a large picture, and mistakes name the key."""

import pytest

from engine.errors import ConfigError
from installation.server.rtc_settings import IceServerSettings, WebRtcSettings


def test_defaults_raise_aiortcs_bitrates_and_use_no_public_stun():
    """By default: VP8, 4 Mb/s starting bitrate (aiortc's own is 0.5), no ICE servers at all."""
    s = WebRtcSettings()
    assert (s.codec, s.bitrate_kbps, s.ice_servers) == ("vp8", 4000, ())
    assert s.bitrate_kbps * 1000 > 1_500_000  # above aiortc's VP8 ceiling


def test_a_starting_bitrate_outside_its_range_is_refused():
    """bitrate_kbps must lie between min_bitrate_kbps and max_bitrate_kbps."""
    with pytest.raises(ConfigError, match="bitrate_kbps"):
        WebRtcSettings(bitrate_kbps=9000, max_bitrate_kbps=8000)


def test_ice_servers_need_stun_or_turn_urls():
    """An ICE server without URLs, or with an http URL, is refused naming urls; a TURN server with a login is kept."""
    for urls in ((), ("http://example.org",)):
        with pytest.raises(ConfigError, match="urls"):
            IceServerSettings(urls=urls)
    turn = WebRtcSettings(ice_servers=(IceServerSettings(urls=("turn:10.0.0.1:3478",), username="u", credential="p"),))
    assert turn.ice_servers[0].urls == ("turn:10.0.0.1:3478",)
