"""The notification service: ``python notifications.py [NATS_URL]``.

Its own consumer group ``notifications`` gets every order event, independently
of the points service: it stays up and on time while points is down.
"""

from __future__ import annotations

import sys

import nats
import natsrpc
from natsrpc.events import EventContext

import shop_natsrpc
from shop_pb2 import OrderPlaced, OrderShipped


class Notifications(shop_natsrpc.OrderEvents):
    def __init__(self) -> None:
        self.confirmations = 0

    async def on_placed(self, event: OrderPlaced, context: EventContext) -> None:
        self.confirmations += 1  # an e-mail would go out here
        if self.confirmations % 2500 == 0:
            print(f"notifications: {self.confirmations} order confirmations sent", flush=True)

    async def on_shipped(self, event: OrderShipped, context: EventContext) -> None:
        print(f"notifications: order {event.order_id} shipped ({event.shipment_id})", flush=True)


def main(url: str) -> None:
    async def build() -> natsrpc.Server:
        nc = await nats.connect(url)
        server = natsrpc.Server(nc)
        server.add_service(Notifications(), consumer="notifications", max_concurrency=64)
        return server

    natsrpc.run(build, ready=lambda: print("notifications ready", flush=True))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222")
