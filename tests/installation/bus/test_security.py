"""The bus against a real redis-server that speaks only TLS, with the default user off and one ACL user:
a hub and a node talk over rediss:// with the CA and password from config or the environment; a wrong
password, an untrusted CA or a missing client certificate is said once, clearly, with no password in any
log line, while the frame loop keeps rendering; mending the password file reconnects a running node."""

import logging
import re

from engine.events import Blackout, TargetChanged
from engine.style import StyleMix
from installation.bus.redis_bus import RedisBus
from installation.bus.settings import BusSettings
from tests.installation.bus.redis_child import wait_for
from tests.installation.bus.test_bus import RunningLoop
from tests.installation.bus.tls_redis import PASSWORD, USER

FAST = {"heartbeat_s": 0.2, "node_gone_s": 1.0, "hub_gone_s": 5.0, "timeout_s": 3.0}  # TLS handshakes on a busy CPU
WRONG = "not-the-password-9130"


def bus(url: str, role: str, name: str = "n1", **kw) -> RedisBus:
    return RedisBus(BusSettings(url=url, role=role, node=name, **FAST, **kw), initial=StyleMix.single(3, 0))


def warnings_matching(caplog, pattern: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and re.search(pattern, r.getMessage())
    ]


def failures(caplog) -> int:
    return sum(1 for r in caplog.records if r.getMessage().startswith("bus job ") and "failed" in r.getMessage())


def no_secret_in(caplog) -> None:
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text and WRONG not in text


def test_a_hub_and_a_node_talk_over_tls_as_an_acl_user(tiny_model, tls_redis, monkeypatch, caplog):
    """Hub (CA from config) and node (CA from $LATERNA_BUS_TLS_CA) share a decision over rediss:// as an
    ACL user whose password comes from $LATERNA_BUS_PASSWORD; the password is in no log line."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LATERNA_BUS_PASSWORD", PASSWORD)
    hub = bus(tls_redis.url, "hub", tls_ca=str(tls_redis.certs.ca))
    monkeypatch.setenv("LATERNA_BUS_TLS_CA", str(tls_redis.certs.ca))
    node = bus(tls_redis.url, "node")
    with RunningLoop(tiny_model) as loop:
        node.follow(loop)
        try:
            hub.start()
            node.start()
            wait_for(lambda: hub.connected and node.connected, 30, "both connected over TLS")
            mix = StyleMix.single(3, 2)
            assert hub.post(TargetChanged(mix, seconds=0.0, label="over-tls"))
            wait_for(lambda: loop.state.target == mix and loop.label == "over-tls", 30, "the decision arrives")
            wait_for(lambda: [n.name for n in hub.nodes()] == ["n1"], 30, "the hub sees the node's heartbeat")
        finally:
            node.stop()
            hub.stop()
    clients = tls_redis.client().client_list()
    assert not clients or all(c.get("user") == USER for c in clients)
    assert not warnings_matching(caplog, "refused|not trusted|certificate")
    no_secret_in(caplog)


def test_a_wrong_password_is_said_once_and_mending_the_file_reconnects(tiny_model, tls_redis, tmp_path, caplog):
    """A node with a wrong password in bus.password_file: one WARNING naming the file (not the password),
    however often it retries; its loop keeps rendering; the right password written there reconnects it."""
    caplog.set_level(logging.DEBUG)
    secret = tmp_path / "bus-password"
    secret.write_text(WRONG + "\n")
    ca = str(tls_redis.certs.ca)
    (tmp_path / "hub-password").write_text(PASSWORD)
    hub = bus(tls_redis.url, "hub", tls_ca=ca, password_file=str(tmp_path / "hub-password"))
    node = bus(tls_redis.url, "node", tls_ca=ca, password_file=str(secret))
    with RunningLoop(tiny_model) as loop:
        node.follow(loop)
        try:
            hub.start()
            node.start()
            wait_for(lambda: failures(caplog) >= 8, 20, "the node has retried several times")
            frames = loop.stats.frames
            wait_for(lambda: loop.stats.frames >= frames + 10, 30, "the loop keeps rendering meanwhile")
            told = warnings_matching(caplog, "refused the user and password")
            assert len(told) == 1 and str(secret) in told[0] and not node.connected
            assert hub.post(Blackout(True))
            secret.write_text(PASSWORD)
            wait_for(lambda: node.connected and loop.state.blackout, 20, "reconnected, the hub's state shown")
        finally:
            node.stop()
            hub.stop()
    assert len(warnings_matching(caplog, "refused the user and password")) == 1
    no_secret_in(caplog)


def test_an_untrusted_ca_is_named_once_and_the_show_goes_on(tiny_model, tls_redis, monkeypatch, caplog):
    """A node whose bus.tls_ca did not sign the server's certificate says so once, naming that file, and
    keeps rendering; the hub with the right CA is not disturbed."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LATERNA_BUS_PASSWORD", PASSWORD)
    hub = bus(tls_redis.url, "hub", tls_ca=str(tls_redis.certs.ca))
    node = bus(tls_redis.url, "node", tls_ca=str(tls_redis.certs.stranger_ca))
    with RunningLoop(tiny_model) as loop:
        node.follow(loop)
        try:
            hub.start()
            node.start()
            wait_for(lambda: failures(caplog) >= 6 and hub.connected, 20, "the node has retried several times")
            frames = loop.stats.frames
            wait_for(lambda: loop.stats.frames >= frames + 10, 30, "the loop keeps rendering meanwhile")
            told = warnings_matching(caplog, "not trusted")
            assert len(told) == 1 and str(tls_redis.certs.stranger_ca) in told[0]
            assert hub.connected and not node.connected
        finally:
            node.stop()
            hub.stop()
    no_secret_in(caplog)


def test_client_certificates_when_redis_asks_for_them(tiny_model, tls_redis_client_certs, monkeypatch, caplog):
    """With --tls-auth-clients yes, a hub with bus.tls_cert/tls_key is let in; a node without them is told
    once that Redis asks for a client certificate, and keeps rendering."""
    caplog.set_level(logging.DEBUG)
    server = tls_redis_client_certs
    monkeypatch.setenv("LATERNA_BUS_PASSWORD", PASSWORD)
    monkeypatch.setenv("LATERNA_BUS_TLS_CA", str(server.certs.ca))
    hub = bus(server.url, "hub", tls_cert=str(server.certs.client_cert), tls_key=str(server.certs.client_key))
    node = bus(server.url, "node")
    with RunningLoop(tiny_model) as loop:
        node.follow(loop)
        try:
            hub.start()
            node.start()
            wait_for(lambda: failures(caplog) >= 6 and hub.connected, 20, "the node has retried several times")
            frames = loop.stats.frames
            wait_for(lambda: loop.stats.frames >= frames + 10, 30, "the loop keeps rendering meanwhile")
            told = warnings_matching(caplog, "client certificate")
            assert len(told) == 1 and "bus.tls_cert" in told[0]  # the first failure may be a reset or the alert
            assert hub.connected and not node.connected
        finally:
            node.stop()
            hub.stop()
    no_secret_in(caplog)
