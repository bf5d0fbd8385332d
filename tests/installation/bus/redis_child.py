"""A real ``redis-server`` as a child process for the tests: a unix socket in a temp dir, AOF on
(``appendfsync always``: what was acknowledged survives ``kill -9``), stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

REDIS = shutil.which("redis-server")
WHY_NOT = "redis-server is not installed (Debian: apt-get install redis-server; `make test` tries)"


def redis_client_missing() -> str | None:
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis client is not installed (pip install 'laterna[cluster]')"
    return None


class RedisChild:
    """``start()``, ``kill()`` (SIGKILL, like a crash), ``start()`` again on the same files; ``stop()``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None

    def start(self, deadline_s: float = 10.0) -> None:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=open(self.folder / "redis.log", "ab"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
        )
        import redis

        end = time.monotonic() + deadline_s
        while True:
            try:
                if redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()[-500:]}")
            time.sleep(0.05)

    def client(self):
        import redis

        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2)

    def kill(self) -> None:
        """SIGKILL by PID, as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(condition, deadline_s: float, what: str, every_s: float = 0.05):
    """Poll ``condition()`` until it is truthy (return it) or ``deadline_s`` passes (AssertionError)."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(every_s)
