"""The event sets of tests/events/evtest/, as protoc-gen-natsrpc generates them.

The evtest fixture compiles the protos. Each order event set gets the same five
names here, so that a test can take any of them: ``ORDERS`` (the ORDERS stream)
and one set per other stream setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from evtest import (
    deduplicated_natsrpc,
    events_natsrpc,
    jobs_natsrpc,
    longer_natsrpc,
    prod_natsrpc,
    replicated_natsrpc,
    work_queue_natsrpc,
)
from evtest.events_pb2 import OrderPlaced, OrderShipped, Ping


@dataclass(frozen=True)
class OrderEventSet:
    """One generated module's order event set."""

    spec: Any
    placed: Any
    shipped: Any
    Publisher: Any
    Handlers: Any

    @classmethod
    def of(cls, module: ModuleType) -> OrderEventSet:
        return cls(
            module.ORDER_EVENTS_SERVICE,
            module.ORDER_EVENTS_PLACED,
            module.ORDER_EVENTS_SHIPPED,
            module.OrderEventsPublisher,
            module.OrderEvents,
        )


ORDERS = OrderEventSet.of(events_natsrpc)
REPLICATED = OrderEventSet.of(replicated_natsrpc)
DEDUPLICATED = OrderEventSet.of(deduplicated_natsrpc)
WORK_QUEUE = OrderEventSet.of(work_queue_natsrpc)
LONGER = OrderEventSet.of(longer_natsrpc)
PROD = OrderEventSet.of(prod_natsrpc)
JOBS = OrderEventSet.of(jobs_natsrpc)

PingEvents = events_natsrpc.PingEvents
PingEventsPublisher = events_natsrpc.PingEventsPublisher

__all__ = [
    "DEDUPLICATED",
    "JOBS",
    "LONGER",
    "ORDERS",
    "PROD",
    "REPLICATED",
    "WORK_QUEUE",
    "OrderEventSet",
    "OrderPlaced",
    "OrderShipped",
    "Ping",
    "PingEvents",
    "PingEventsPublisher",
]
