"""A real Triton Inference Server on this machine, as a child process: for the triton bench and its tests.

``PyTritonServer(repository, models)`` runs ``tools/pytriton_serve.py`` in the separate environment
``.venv-triton`` (``make triton``; ``LATERNA_TRITON_PYTHON`` names another interpreter), on free
loopback ports, and waits until the model is loaded. ``stop()`` asks it to finish (SIGTERM), ``kill()``
ends it at once as a crash would (SIGKILL to its process group: PyTriton's ``tritonserver`` and Python
backend stubs go with it); ``start()`` again serves on the same ports, as a restarted server would.
``unavailable_reason()`` says why no server can run here (the tests skip with it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from engine.errors import BackendError

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "tools" / "pytriton_serve.py"
STARTUP_TIMEOUT_S = 120.0


def triton_python() -> Path:
    """The interpreter of the environment that has ``nvidia-pytriton``."""
    env = os.environ.get("LATERNA_TRITON_PYTHON")
    return Path(env) if env else ROOT / ".venv-triton" / "bin" / "python"


def unavailable_reason() -> str | None:
    """Why a local PyTriton server cannot run here, or None when it can."""
    python = triton_python()
    if not python.exists():
        return f"no {python} (run `make triton`: it installs nvidia-pytriton into .venv-triton)"
    bundled = list(python.parent.parent.glob("lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver"))
    if not bundled:
        return f"{python} has no nvidia-pytriton (its bundled tritonserver binary is missing)"
    try:
        import tritonclient.grpc  # noqa: F401
    except ImportError:
        return "tritonclient is not installed here (pip install 'laterna[triton]')"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PyTritonServer:
    """Models of an exported repository (all of them by default), served by PyTriton's tritonserver on
    loopback ports."""

    def __init__(self, repository: str | Path, models: str | Sequence[str] = (), threads: int = 1) -> None:
        self.repository = Path(repository)
        self.models = [models] if isinstance(models, str) else list(models)  # empty: every model in it
        self.threads = threads
        self.ports: tuple[int, int, int] | None = None  # grpc, http, metrics
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="laterna-pytriton-"))
        self.log_path = self._tmp / "server.log"
        self.access_token = ""  # opens PyTriton's restricted endpoints (statistics)

    @property
    def url(self) -> str:
        if self.ports is None:
            raise BackendError("the PyTriton server was never started")
        return f"127.0.0.1:{self.ports[0]}"

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> Self:
        """Start serving (on the ports of the last run, if any) and wait until the model is loaded."""
        reason = unavailable_reason()
        if reason:
            raise BackendError(reason)
        if self.process is not None and self.process.poll() is None:
            return self
        if self.ports is None:
            self.ports = (free_port(), free_port(), free_port())
        ready = self._tmp / "ready"
        ready.unlink(missing_ok=True)
        work = self._tmp / "work"  # PyTriton's workspace: ours to delete, even after a SIGKILL
        shutil.rmtree(work, ignore_errors=True)  # a killed run's leftovers; PyTriton wants a new folder
        work.mkdir()
        grpc, http, metrics = self.ports
        cmd = [str(triton_python()), str(SERVE), str(self.repository)]
        for model in self.models:
            cmd += ["--model", model]
        cmd += ["--grpc-port", str(grpc), "--http-port", str(http), "--metrics-port", str(metrics)]
        cmd += ["--threads", str(self.threads), "--ready-file", str(ready), "--workspace", str(work / "pytriton")]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["TMPDIR"] = str(work)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while not ready.exists():
            if self.process.poll() is not None:
                raise BackendError(f"the PyTriton server exited ({self.process.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise BackendError(f"PyTriton did not load the model in {timeout_s:.0f} s: {self.log_tail()}")
            time.sleep(0.05)
        fields = ready.read_text().split()
        self.access_token = fields[2] if len(fields) > 2 else ""
        return self

    @property
    def headers(self) -> dict[str, str]:
        """gRPC headers that open the restricted endpoints (statistics) of this server."""
        return {"triton-grpc-protocol-triton-access-token": self.access_token} if self.access_token else {}

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _signal_group(self, sig: int) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)  # the group we started (start_new_session): the server and its children
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """End the server at once, as a crash or a pulled cable would."""
        proc = self.process
        if proc is None:
            return
        self._signal_group(signal.SIGKILL)
        proc.wait(timeout=30)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children that outlived the leader (same group id)
        except ProcessLookupError:
            pass
        for region in Path("/dev/shm").glob(f"pytrtion{proc.pid}-*"):  # the Python backend's shared memory
            region.unlink(missing_ok=True)
        self.process = None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the server to finish (SIGTERM); kill it if it has not within ``timeout_s``."""
        proc = self.process
        if proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
