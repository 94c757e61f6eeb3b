"""The order service and the warehouse: ``python shop_service.py [NATS_URL]``.

``Orders`` answers RPCs; placing an order publishes ``OrderEvents.Placed``.
Shipping is slow, so ``ShipOrder`` only queues a job on the ``SHOP_SHIPPING``
work queue and answers at once; the ``Warehouse`` takes the job and publishes
``OrderEvents.Shipped`` when it is done.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import nats
import natsrpc
from natsrpc.events import EventContext

import shop_natsrpc
from shop_pb2 import (
    OrderPlaced,
    OrderShipped,
    PlaceOrderReply,
    PlaceOrderRequest,
    ShipmentRequested,
    ShipOrderReply,
    ShipOrderRequest,
)

SHIPPING_SECONDS = 2.0


class Orders(shop_natsrpc.Orders):
    def __init__(
        self, events: shop_natsrpc.OrderEventsPublisher, jobs: shop_natsrpc.ShippingJobsPublisher
    ) -> None:
        self.events = events
        self.jobs = jobs

    async def place_order(
        self, request: PlaceOrderRequest, context: natsrpc.Context
    ) -> PlaceOrderReply:
        if request.amount_cents <= 0:
            context.abort(natsrpc.StatusCode.INVALID_ARGUMENT, "amount_cents must be positive")
        order_id = uuid.uuid4().hex[:12]
        # Stored in SHOP_ORDERS before the caller hears back: placing never outruns the event.
        await self.events.placed(
            OrderPlaced(
                event_id=f"placed-{order_id}",
                order_id=order_id,
                customer_id=request.customer_id,
                amount_cents=request.amount_cents,
            )
        )
        return PlaceOrderReply(order_id=order_id)

    async def ship_order(
        self, request: ShipOrderRequest, context: natsrpc.Context
    ) -> ShipOrderReply:
        shipment_id = uuid.uuid4().hex[:12]
        await self.jobs.requested(
            ShipmentRequested(shipment_id=shipment_id, order_id=request.order_id)
        )
        return ShipOrderReply(shipment_id=shipment_id)


class Warehouse(shop_natsrpc.ShippingJobs):
    def __init__(self, events: shop_natsrpc.OrderEventsPublisher) -> None:
        self.events = events

    async def on_requested(self, event: ShipmentRequested, context: EventContext) -> None:
        await asyncio.sleep(SHIPPING_SECONDS)  # packing, labels, the truck
        await self.events.shipped(
            OrderShipped(
                event_id=f"shipped-{event.shipment_id}",
                order_id=event.order_id,
                shipment_id=event.shipment_id,
            )
        )


def main(url: str) -> None:
    async def build() -> natsrpc.Server:
        nc = await nats.connect(url)
        events = shop_natsrpc.OrderEventsPublisher(nc)
        server = natsrpc.Server(nc)
        server.add_service(Orders(events, shop_natsrpc.ShippingJobsPublisher(nc)))
        server.add_service(Warehouse(events), consumer="warehouse", max_concurrency=8)
        return server

    natsrpc.run(build, ready=lambda: print("orders and warehouse ready", flush=True))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222")
