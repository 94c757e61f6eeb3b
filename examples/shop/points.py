"""The loyalty points service: ``python points.py [NATS_URL] [LEDGER_FILE]``.

It credits one point per euro for every placed order, in its own consumer group
``points``. Events arrive at least once, so the ledger records each event id
with its credit in one transaction: a redelivered event is recognised and
credited no second time.
"""

from __future__ import annotations

import sqlite3
import sys

import nats
import natsrpc
from natsrpc.events import EventContext

import shop_natsrpc
from shop_pb2 import OrderPlaced


class Ledger:
    """Credits on disk, keyed by the event id."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS credits (event_id TEXT PRIMARY KEY, order_id TEXT, "
            "customer_id TEXT, points INTEGER)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS repeats (event_id TEXT, delivery INTEGER)")

    def credit(self, event: OrderPlaced, delivery_count: int) -> bool:
        """Credit the order once; False when this event was credited before."""
        with self.db:
            self.db.execute("BEGIN")
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO credits VALUES (?, ?, ?, ?)",
                (event.event_id, event.order_id, event.customer_id, event.amount_cents // 100),
            ).rowcount
            if not inserted:
                self.db.execute(
                    "INSERT INTO repeats VALUES (?, ?)", (event.event_id, delivery_count)
                )
        return bool(inserted)


class Points(shop_natsrpc.OrderEvents):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def on_placed(self, event: OrderPlaced, context: EventContext) -> None:
        self.ledger.credit(event, context.delivery_count)


def main(url: str, ledger_path: str) -> None:
    async def build() -> natsrpc.Server:
        nc = await nats.connect(url)
        server = natsrpc.Server(nc)
        # At most 32 events in hand: a burst waits in the stream, not in this process. Events
        # a crashed instance held come back after ack_wait.
        server.add_service(
            Points(Ledger(ledger_path)), consumer="points", max_concurrency=32, ack_wait=5
        )
        return server

    natsrpc.run(build, ready=lambda: print("points ready", flush=True))


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222",
        sys.argv[2] if len(sys.argv) > 2 else "points.sqlite",
    )
