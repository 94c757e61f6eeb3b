"""Event sets declared by hand exactly as protoc-gen-natsrpc declares them.

``order_events(stream)`` builds the order event set with a chosen stream, so each
test picks its retention and windows; ``ORDERS`` is the default set, importable
by the consumer processes the tests start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from evtest.events_pb2 import OrderPlaced, OrderShipped, Ping

import natsrpc
import natsrpc.events
from natsrpc.events import EventServiceSpec, EventSpec, StreamSpec


@dataclass(frozen=True)
class OrderEventSet:
    spec: EventServiceSpec
    placed: EventSpec[OrderPlaced]
    shipped: EventSpec[OrderShipped]
    Publisher: type[natsrpc.events.Publisher]
    Handlers: type[natsrpc.events.EventHandlers]


ORDERS_STREAM = StreamSpec(name="ORDERS")


def order_events(stream: StreamSpec | None = ORDERS_STREAM) -> OrderEventSet:
    placed = EventSpec(
        name="Placed",
        path="/evtest.OrderEvents/Placed",
        subject="evtest.orders.{order_id}.placed",
        attribute="placed",
        event_type=OrderPlaced,
        id_field="event_id",
    )
    shipped = EventSpec(
        name="Shipped",
        path="/evtest.OrderEvents/Shipped",
        subject="evtest.orders.{order_id}.shipped",
        attribute="shipped",
        event_type=OrderShipped,
    )
    spec = EventServiceSpec(full_name="evtest.OrderEvents", events=(placed, shipped), stream=stream)

    class OrderEventsPublisher(natsrpc.events.Publisher):
        _natsrpc_service: ClassVar[EventServiceSpec] = spec

        async def placed(
            self,
            event: OrderPlaced,
            *,
            metadata: natsrpc.MetadataLike | None = None,
            timeout: float | None = None,
        ) -> natsrpc.events.PublishAck | None:
            return await self._publish(placed, event, metadata, timeout)

        async def shipped(
            self,
            event: OrderShipped,
            *,
            metadata: natsrpc.MetadataLike | None = None,
            timeout: float | None = None,
        ) -> natsrpc.events.PublishAck | None:
            return await self._publish(shipped, event, metadata, timeout)

    class OrderEvents(natsrpc.events.EventHandlers):
        _natsrpc_service: ClassVar[EventServiceSpec] = spec

        async def on_placed(self, event: OrderPlaced, context: natsrpc.events.EventContext) -> None:
            return None

        async def on_shipped(
            self, event: OrderShipped, context: natsrpc.events.EventContext
        ) -> None:
            return None

    return OrderEventSet(spec, placed, shipped, OrderEventsPublisher, OrderEvents)


ORDERS = order_events()

PING = EventSpec(
    name="Pinged", path="/evtest.PingEvents/Pinged", subject="evtest.ping", attribute="pinged",
    event_type=Ping,
)  # fmt: skip
PING_SPEC = EventServiceSpec(full_name="evtest.PingEvents", events=(PING,))


class PingEventsPublisher(natsrpc.events.Publisher):
    """A core NATS event set: no stream, at most once."""

    _natsrpc_service: ClassVar[EventServiceSpec] = PING_SPEC

    async def pinged(self, event: Ping, *, metadata: natsrpc.MetadataLike | None = None) -> None:
        await self._publish(PING, event, metadata, None)


class PingEvents(natsrpc.events.EventHandlers):
    _natsrpc_service: ClassVar[EventServiceSpec] = PING_SPEC

    async def on_pinged(self, event: Ping, context: natsrpc.events.EventContext) -> None:
        return None
