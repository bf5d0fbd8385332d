"""NDI out and in, for real: an ``NdiSink`` in one process and an ``NdiSource`` in another find each other on
loopback through Laterna's unicast discovery config (no mDNS), and the received pictures are the sent ones.
Skips cleanly without cyndilib (the ``[ndi]`` extra).
"""

import json
import multiprocessing

import numpy as np
import pytest

from engine.ndi import CONFIG_FILE, config_text
from engine.sources.ndi import matches
from tests.engine.ndi_peers import HEIGHT, WIDTH, picture, receive_main, send_main

MATCH = 6.0  # NDI compresses (SpeedHQ): a received picture against the sent one, mean abs difference


def test_the_config_asks_for_unicast_discovery_of_the_listed_machines():
    """The NDI config lists the IPs comma-separated, turns unicast on and multicast sending off."""
    ndi = json.loads(config_text(["10.0.0.5", "10.0.0.6"], "hall"))["ndi"]
    assert ndi["networks"]["ips"] == "10.0.0.5,10.0.0.6"
    assert ndi["unicast"]["enable"] is True and ndi["multicast"]["send"]["enable"] is False
    assert ndi["machinename"] == "hall"


def test_source_names_match_whole_or_by_their_stream_part():
    """ "HALL (Laterna)" is found as "HALL (Laterna)" or "Laterna", not as "Later" or "HALL"."""
    assert matches("HALL (Laterna)", "Laterna") and matches("HALL (Laterna)", "HALL (Laterna)")
    assert not matches("HALL (Laterna)", "Later") and not matches("HALL (Laterna)", "HALL")


@pytest.mark.slow
def test_an_ndi_sender_and_receiver_in_two_processes_on_loopback(tmp_path):
    """Pictures sent by NdiSink in one process arrive in NdiSource in another, each close to one that was sent,
    and they change over time."""
    pytest.importorskip("cyndilib", reason="cyndilib is not installed (pip install '.[ndi]')")
    ctx = multiprocessing.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    name = f"laterna-test-{tmp_path.name[-12:]}"
    sender = ctx.Process(target=send_main, args=(str(tmp_path / "send"), name, 90.0, out, stop), daemon=True)
    receiver = ctx.Process(target=receive_main, args=(str(tmp_path / "recv"), name, 30.0, out, stop), daemon=True)
    sender.start()
    receiver.start()
    results = dict((item[0], item[1:]) for item in (out.get(timeout=120), out.get(timeout=120)))
    sender.join(30)
    receiver.join(30)
    assert (tmp_path / "send" / CONFIG_FILE).is_file()
    got, _errors = results["received"]
    assert results["sent"][0] >= len(got)
    assert len(got) >= 20, f"only {len(got)} NDI frames arrived"
    sent = [picture(k).astype(int) for k in range(32)]
    for received in got:
        assert received.shape == (HEIGHT, WIDTH, 3)
        assert min(float(np.abs(received.astype(int) - s).mean()) for s in sent) < MATCH
    assert float(np.abs(got[0].astype(int) - got[-1].astype(int)).mean()) > 2.0
