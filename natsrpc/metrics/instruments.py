"""The instruments natsrpc records, their names, units and attribute keys.

Names follow OpenTelemetry's semantic conventions where they define one (RPC:
``rpc.{client,server}.call.duration`` and the per-RPC message counts;
messaging: ``messaging.client.sent.messages``, ``messaging.process.duration``);
what they do not define lives under ``natsrpc.``. docs/operations.md lists them.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import Meter, MeterProvider

from natsrpc._version import __version__
from natsrpc.spec import MethodSpec

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
    return metrics.get_meter("natsrpc", __version__, provider)


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

    def __init__(self, meter: Meter, side: str) -> None:
        self.duration = meter.create_histogram(
            f"rpc.{side}.call.duration",
            unit="s",
            description=f"Duration of RPCs {'made' if side == 'client' else 'served'}",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.requests = meter.create_histogram(
            f"rpc.{side}.requests_per_rpc",
            unit="{message}",
            description="Request messages per streaming RPC",
            explicit_bucket_boundaries_advisory=MESSAGE_COUNT_BUCKETS,
        )
        self.responses = meter.create_histogram(
            f"rpc.{side}.responses_per_rpc",
            unit="{message}",
            description="Response messages per streaming RPC",
            explicit_bucket_boundaries_advisory=MESSAGE_COUNT_BUCKETS,
        )


class EventInstruments:
    """The instruments of events published and handled."""

    def __init__(self, meter: Meter) -> None:
        self.sent = meter.create_counter(
            "messaging.client.sent.messages",
            unit="{message}",
            description="Events published, by event and outcome",
        )
        self.process = meter.create_histogram(
            "messaging.process.duration",
            unit="s",
            description="Time from taking an event in hand to settling it (JetStream) or to its "
            "handler's end (core NATS), by outcome",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.deliveries = meter.create_histogram(
            "natsrpc.event.delivery_attempts",
            unit="{delivery}",
            description="Deliveries an event took until it was acked or dead-lettered",
            explicit_bucket_boundaries_advisory=DELIVERY_BUCKETS,
        )
