"""The instruments natsrpc records, their names, units and attribute keys.

Names follow OpenTelemetry's semantic conventions where they define one (RPC:
``rpc.{client,server}.call.duration`` and the per-RPC message counts;
messaging: ``messaging.client.sent.messages``, ``messaging.process.duration``);
what they do not define lives under ``natsrpc.``. docs/operations.md lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import Meter, MeterProvider

from natsrpc._version import __version__
from natsrpc.metrics.aggregate import aggregates_of
from natsrpc.spec import MethodSpec

SCOPE = "natsrpc"
"""natsrpc's instrumentation scope (meter name)."""
RPC_SYSTEM = "natsrpc"
MESSAGING_SYSTEM = "nats"

# Attribute keys (Prometheus shows them with "_" for ".").
SYSTEM = "rpc.system.name"
METHOD = "rpc.method"
SERVICE = "rpc.service"
KIND = "natsrpc.method.kind"
STATUS = "rpc.response.status_code"
ERROR_TYPE = "error.type"
MESSAGING = "messaging.system"
GROUP = "messaging.consumer.group.name"
DESTINATION_TEMPLATE = "messaging.destination.template"
EVENT = "natsrpc.event"
STREAM = "natsrpc.stream"
OUTCOME = "natsrpc.outcome"
SHED_REASON = "natsrpc.shed.reason"

DURATION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Seconds: from a fast local call (~100 µs) to a slow handler."""
MESSAGE_COUNT_BUCKETS = (0, 1, 2, 5, 10, 100, 1_000, 10_000, 100_000)
DELIVERY_BUCKETS = (1, 2, 3, 5, 10, 20)


def meter(provider: MeterProvider | None) -> Meter:
    """natsrpc's meter from ``provider``, or from the global provider (a no-op until set)."""
    return metrics.get_meter(SCOPE, __version__, provider)


class Recorder(Protocol):
    """What natsrpc records a histogram through: the API's ``Histogram`` or its own aggregate."""

    def record(self, amount: float, attributes: dict[str, str], /) -> None: ...


def histogram(
    provider: MeterProvider | None,
    name: str,
    *,
    unit: str,
    description: str,
    boundaries: Sequence[float],
) -> Recorder:
    """A histogram of natsrpc's meter in ``provider``.

    Aggregated by natsrpc when ``provider`` is one natsrpc built (the SDK's
    ``record`` costs ~10 µs; natsrpc.metrics.aggregate), the SDK's own otherwise.
    Pass the same attributes dict for the same attributes: the aggregate keys on it.
    """
    aggregates = aggregates_of(provider)
    if aggregates is not None:
        return aggregates.histogram(name, unit, description, boundaries)
    return meter(provider).create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=boundaries
    )


def method_attributes(method: MethodSpec[Any, Any]) -> dict[str, str]:
    """The attributes every RPC instrument carries for ``method``."""
    full = method.path.lstrip("/")
    return {
        SYSTEM: RPC_SYSTEM,
        METHOD: full,
        SERVICE: full.rpartition("/")[0],
        KIND: method.kind.value,
    }


class RpcInstruments:
    """One side's (``client`` or ``server``) RPC instruments."""

    def __init__(self, provider: MeterProvider | None, side: str) -> None:
        self.duration = histogram(
            provider,
            f"rpc.{side}.call.duration",
            unit="s",
            description=f"Duration of RPCs {'made' if side == 'client' else 'served'}",
            boundaries=DURATION_BUCKETS,
        )
        self.requests = histogram(
            provider,
            f"rpc.{side}.requests_per_rpc",
            unit="{message}",
            description="Request messages per streaming RPC",
            boundaries=MESSAGE_COUNT_BUCKETS,
        )
        self.responses = histogram(
            provider,
            f"rpc.{side}.responses_per_rpc",
            unit="{message}",
            description="Response messages per streaming RPC",
            boundaries=MESSAGE_COUNT_BUCKETS,
        )


class EventInstruments:
    """The instruments of events published and handled."""

    def __init__(self, provider: MeterProvider | None) -> None:
        self.sent = meter(provider).create_counter(
            "messaging.client.sent.messages",
            unit="{message}",
            description="Events published, by event and outcome",
        )
        self.process = histogram(
            provider,
            "messaging.process.duration",
            unit="s",
            description="Time from taking an event in hand to settling it (JetStream) or to its "
            "handler's end (core NATS), by outcome",
            boundaries=DURATION_BUCKETS,
        )
        self.deliveries = histogram(
            provider,
            "natsrpc.event.delivery_attempts",
            unit="{delivery}",
            description="Deliveries an event took until it was acked or dead-lettered",
            boundaries=DELIVERY_BUCKETS,
        )
