"""Turning metrics on for a whole process: every server, client and publisher made afterwards."""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

from natsrpc import telemetry
from natsrpc.client.interceptors import PROCESS_INTERCEPTORS as CLIENT_INTERCEPTORS
from natsrpc.metrics.events import CoreHandlingRecorder, ServerStatistics, SettlementRecorder
from natsrpc.metrics.instruments import EventInstruments, meter
from natsrpc.metrics.rpc import ClientMetricsInterceptor, ServerMetricsInterceptor
from natsrpc.server.interceptors import PROCESS_INTERCEPTORS as SERVER_INTERCEPTORS
from natsrpc.server.server import Server

_enabled: Metrics | None = None


class Metrics:
    """What ``enable`` installed; ``observe`` adds a server's statistics, ``disable`` undoes it."""

    def __init__(self, meter_provider: MeterProvider | None) -> None:
        self.meter_provider = meter_provider
        # Unary calls are recorded through the telemetry hooks; the interceptors
        # record streams and publishes.
        self.server_interceptor = ServerMetricsInterceptor(meter_provider, unary_calls=False)
        self.client_interceptor = ClientMetricsInterceptor(meter_provider, unary_calls=False)
        m = meter(meter_provider)
        instruments = EventInstruments(meter_provider)
        self._recorder = SettlementRecorder(instruments)
        self._core_recorder = CoreHandlingRecorder(instruments)
        self._statistics = ServerStatistics(m)
        self._served = self.server_interceptor.unary_hook()
        self._calling, self._called = self.client_interceptor.unary_hooks()

    def observe(self, server: Server) -> None:
        """Report ``server``'s shed and waiting calls and dropped core events."""
        self._statistics.add(server)

    def disable(self) -> None:
        """Stop instrumenting new servers, clients and publishers, and stop recording events."""
        global _enabled
        for installed, interceptor in (
            (SERVER_INTERCEPTORS, self.server_interceptor),
            (CLIENT_INTERCEPTORS, self.client_interceptor),
        ):
            if interceptor in installed:
                installed.remove(interceptor)  # type: ignore[arg-type]
        if telemetry.settled is self._recorder:
            telemetry.settled = None
        if telemetry.handled is self._core_recorder:
            telemetry.handled = None
        if telemetry.unary_served == self._served:
            telemetry.unary_served = None
        if telemetry.unary_calling == self._calling:
            telemetry.unary_calling = telemetry.unary_called = None
        if _enabled is self:
            _enabled = None


def enable(meter_provider: MeterProvider | None = None) -> Metrics:
    """Record natsrpc's metrics into ``meter_provider`` (default: the global one).

    Unary calls of every client and server are recorded from now on, through
    the ``natsrpc.telemetry`` hooks; servers, clients and publishers made
    afterwards run the metrics interceptors (for streams and publishes) outside
    their own; JetStream and core NATS event outcomes are recorded from now on. Pass
    each server to ``Metrics.observe`` as well, for the calls it sheds.
    """
    global _enabled
    if _enabled is not None:
        raise RuntimeError("natsrpc metrics are already enabled in this process")
    enabled = Metrics(meter_provider)
    SERVER_INTERCEPTORS.insert(0, enabled.server_interceptor)
    CLIENT_INTERCEPTORS.insert(0, enabled.client_interceptor)
    telemetry.settled = enabled._recorder
    telemetry.handled = enabled._core_recorder
    telemetry.unary_served = enabled._served
    telemetry.unary_calling = enabled._calling
    telemetry.unary_called = enabled._called
    _enabled = enabled
    return enabled


def enabled() -> Metrics | None:
    """The metrics ``enable`` turned on, if any."""
    return _enabled
