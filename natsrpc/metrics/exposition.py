"""``/metrics``, ``/healthz`` and ``/readyz`` over HTTP, for Prometheus and Kubernetes.

The HTTP server runs in a thread of its own, so a scrape never waits for the
event loop and a slow scrape never delays a call. It reads what the loop
leaves behind: the SDK's instruments, the servers' flags, the last JetStream
reading.

- ``/metrics``: the Prometheus text format, from OpenTelemetry's Prometheus
  exporter (every instrument of the meter provider ``open_probes`` sets up);
- ``/healthz``: 200 while the event loop runs a callback within
  ``LOOP_TIMEOUT`` seconds, 503 otherwise;
- ``/readyz``: 200 while every watched server is started, not stopping, and
  connected to NATS; 503 otherwise, with the reason in the body.
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from natsrpc.metrics.jetstream import DEFAULT_INTERVAL, JetStreamGauges
from natsrpc.metrics.process import Metrics, enable
from natsrpc.metrics.provider import natsrpc_meter_provider
from natsrpc.server.server import Server

LOOP_TIMEOUT = 2.0
"""Seconds the event loop may take to run a callback before ``/healthz`` says it is stuck."""
DEFAULT_HOST = "127.0.0.1"


class ProbesError(RuntimeError):
    """The probes cannot be served (the port is in use, the address is wrong)."""


Answer = tuple[int, str, bytes]


class HttpEndpoints:
    """A tiny HTTP server in a daemon thread, answering GET paths with functions."""

    def __init__(self, host: str, port: int, routes: dict[str, Callable[[], Answer]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.partition("?")[0])
                if route is None:
                    status, content_type, body = 404, "text/plain", b"not found\n"
                else:
                    status, content_type, body = route()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every few seconds is not worth a log line

        try:
            self._http = ThreadingHTTPServer((host, port), Handler)
        except OSError as error:
            reason = "the port is in use" if error.errno == errno.EADDRINUSE else error.strerror
            raise ProbesError(f"cannot serve metrics on {host}:{port}: {reason}") from None
        self._http.daemon_threads = True
        self.host = host
        self.port: int = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="natsrpc-probes", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def text(status: int, body: str) -> Answer:
    return status, "text/plain; charset=utf-8", (body + "\n").encode()


class Probes:
    """Metrics and probes of this process; ``watch`` each server once it is built."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        jetstream_interval: float = DEFAULT_INTERVAL,
        resource: Resource | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.meter_provider = natsrpc_meter_provider(self.registry, resource or Resource.create({}))
        self._metrics: Metrics = enable(self.meter_provider)
        self.meter_provider.get_meter("natsrpc").create_observable_gauge(
            "natsrpc.server.ready",
            [self._observe_ready],
            unit="1",
            description="1 while /readyz answers 200: started, not stopping, connected",
        )
        self._jetstream_interval = jetstream_interval
        self._servers: list[Server] = []
        self._gauges: list[JetStreamGauges] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            routes = {"/metrics": self._scrape, "/healthz": self._health, "/readyz": self._ready}
            self._http = HttpEndpoints(host, port, routes)
        except ProbesError:
            self._metrics.disable()
            self.meter_provider.shutdown()
            raise
        self.host = host
        self.port = self._http.port

    def watch(self, server: Server) -> None:
        """Count ``server`` in readiness and metrics; call it on the server's event loop."""
        self._loop = asyncio.get_running_loop()
        self._servers.append(server)
        self._metrics.observe(server)
        streams = sorted(
            {
                endpoint.metadata["rpc.stream"]
                for service in server.services
                for endpoint in service.endpoints
                if endpoint.metadata and "rpc.stream" in endpoint.metadata
            }
        )
        if streams:
            gauges = JetStreamGauges(
                server.nc, self.meter_provider, streams=streams, interval=self._jetstream_interval
            )
            self._gauges.append(gauges)
            self._loop.create_task(gauges.start())

    def readiness(self) -> str | None:
        """Why this process is not ready, or None when it is."""
        if not self._servers:
            return "no server yet"
        for server in self._servers:
            if not server.started:
                return "not serving: starting or stopping"
            if not server.nc.is_connected:
                return "not connected to NATS"
        return None

    def _observe_ready(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(int(self.readiness() is None))]

    def _scrape(self) -> Answer:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)

    def _health(self) -> Answer:
        loop = self._loop
        if loop is None:
            return text(200, "ok")
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:
            return text(503, "event loop closed")
        if not answered.wait(LOOP_TIMEOUT):
            return text(503, f"event loop did not answer within {LOOP_TIMEOUT:g} s")
        return text(200, "ok")

    def _ready(self) -> Answer:
        reason = self.readiness()
        return text(200, "ready") if reason is None else text(503, reason)

    def close(self) -> None:
        """Stop serving HTTP and recording; call it on the event loop while it runs, or after."""
        self._http.close()
        for gauges in self._gauges:
            gauges.cancel()
        self._metrics.disable()
        self.meter_provider.shutdown()


def open_probes(
    host: str = DEFAULT_HOST, port: int = 0, *, jetstream_interval: float = DEFAULT_INTERVAL
) -> Probes:
    """Turn metrics on for this process and serve them with the probes on ``host:port``.

    ``port=0`` takes a free port (``Probes.port``). Raises ``ProbesError`` with
    a one-line reason when the port cannot be had.
    """
    return Probes(host, port, jetstream_interval=jetstream_interval)
