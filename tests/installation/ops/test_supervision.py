import os
import socket
import tempfile
import uuid

import pytest

from installation.ops.supervision import Health, Watchdog, sd_notify, watchdog_interval_s


class Clock:
    """An injected monotonic clock that moves only when told."""

    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture()
def notify_socket(monkeypatch):
    """A real AF_UNIX datagram socket standing in for systemd, named by $NOTIFY_SOCKET (a path)."""
    with tempfile.TemporaryDirectory(prefix="sd") as d:  # short path: AF_UNIX names are limited to ~108 bytes
        path = os.path.join(d, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5.0)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        yield sock
        sock.close()


def drain(sock):
    """Every datagram already delivered (sendto on AF_UNIX datagrams delivers before it returns)."""
    sock.setblocking(False)
    got = []
    try:
        while True:
            got.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5.0)
    return got


def test_sd_notify_is_a_no_op_outside_systemd(monkeypatch):
    """Without $NOTIFY_SOCKET, sd_notify sends nothing and says so by returning False."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False


def test_sd_notify_sends_one_datagram(notify_socket):
    """sd_notify writes the message as one datagram to the socket named by $NOTIFY_SOCKET."""
    assert sd_notify("STATUS=warming up") is True
    assert notify_socket.recv(4096) == b"STATUS=warming up"


def test_sd_notify_reaches_an_abstract_socket(monkeypatch):
    """A $NOTIFY_SOCKET starting with '@' is the Linux abstract namespace (leading NUL byte)."""
    if not hasattr(socket, "AF_UNIX") or not os.uname().sysname == "Linux":
        pytest.skip("abstract sockets are Linux-only")
    name = f"laterna-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("READY=1")
        assert sock.recv(4096) == b"READY=1"


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch):
    """$WATCHDOG_USEC=30 s gives a 15 s ping interval; a WATCHDOG_PID of another process means no watchdog."""
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == 15.0
    assert Watchdog(lambda: 0.0).interval_s == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval_s() is None


def test_ready_once_then_pings_while_the_loop_ticks(notify_socket):
    """The first healthy beat sends READY=1; every healthy beat sends WATCHDOG=1 and a STATUS line with fps."""
    clock = Clock()
    last_tick = [clock.t]
    dog = Watchdog(
        lambda: last_tick[0],
        interval_s=1.0,
        stall_after_s=5.0,
        clock=clock,
        stats=lambda: {"fps": 29.94, "backend": "onnxruntime[CPUExecutionProvider]x2", "dropped": 3, "errors": 0},
    )
    assert dog.beat()
    first = drain(notify_socket)
    assert first[:2] == ["READY=1", "WATCHDOG=1"]
    assert first[2].startswith("STATUS=showing 29.9 fps")
    clock.t += 2.0
    last_tick[0] = clock.t
    assert dog.beat()
    assert drain(notify_socket)[0] == "WATCHDOG=1"  # no second READY=1


def test_ready_waits_until_the_show_is_up(notify_socket):
    """With is_up given, READY=1 is held back (pings still go out) until is_up() turns True."""
    clock = Clock()
    frames = [0]
    dog = Watchdog(lambda: clock.t, interval_s=1.0, clock=clock, is_up=lambda: frames[0] > 0)
    assert dog.beat() and "READY=1" not in drain(notify_socket)
    frames[0] = 1
    assert dog.beat() and drain(notify_socket)[0] == "READY=1"


def test_a_stalled_loop_stops_the_pings_and_they_resume_when_it_ticks(notify_socket):
    """When the last tick is older than stall_after_s, no WATCHDOG=1 is sent (systemd will restart the show)."""
    clock = Clock()
    last_tick = [clock.t]
    dog = Watchdog(lambda: last_tick[0], interval_s=1.0, stall_after_s=5.0, clock=clock)
    dog.beat()
    drain(notify_socket)
    clock.t += 6.0  # the loop has not ticked for 6 s
    assert dog.beat() is False
    stalled = drain(notify_socket)
    assert "WATCHDOG=1" not in stalled and stalled == ["STATUS=frame loop stalled for 6 s"]
    last_tick[0] = clock.t
    assert dog.beat() and "WATCHDOG=1" in drain(notify_socket)


def test_started_watchdog_says_ready_and_stopping(notify_socket):
    """start() beats at once (READY=1, WATCHDOG=1) from its thread; stop() sends STOPPING=1."""
    clock = Clock()
    dog = Watchdog(lambda: clock.t, interval_s=60.0, clock=clock).start()
    assert notify_socket.recv(4096) == b"READY=1"
    assert notify_socket.recv(4096) == b"WATCHDOG=1"
    dog.stop()
    dog.stop()
    assert drain(notify_socket)[-1] == "STOPPING=1"


def test_health_turns_unhealthy_when_the_loop_stalls():
    """Health is 200/ok while the loop ticks and 503/stalled once the last tick is too old."""
    clock = Clock()
    last_tick = [clock.t - 1.0]
    health = Health(lambda: last_tick[0], stall_after_s=5.0, clock=clock)
    assert health.healthy() and health.status_code() == 200
    assert health.report() == {
        "status": "ok",
        "healthy": True,
        "http_status": 200,
        "last_tick_age_s": 1.0,
        "stall_after_s": 5.0,
    }
    clock.t += 10.0
    assert not health.healthy() and health.status_code() == 503
    assert health.report()["status"] == "stalled" and health.report()["last_tick_age_s"] == 11.0
