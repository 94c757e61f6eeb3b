"""A flash sale, a crash and a shipment, with real processes: ``python demo.py [ORDERS]``.

1. Start nats-server with JetStream, then the order service, points and notifications,
   each its own process.
2. Place 10,000 orders in a burst (64 calls at a time). Every order publishes
   ``OrderPlaced``; points and notifications work them off at their own bounded pace.
3. Kill the points process with SIGKILL mid-burst, start it again, and check that
   every order was credited exactly once: at-least-once delivery plus the event id.
4. Ship an order: the RPC answers at once, the ``Shipped`` event arrives later.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nats
import natsrpc
from natsrpc.events import EventContext
from natsrpc.testing import NatsServer

import shop_natsrpc
from shop_pb2 import OrderShipped, PlaceOrderRequest, ShipOrderRequest

HERE = Path(__file__).resolve().parent


async def start(name: str, *args: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / f"{name}.py"), *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    print(f"[{name}] {line.decode().strip()}")
    asyncio.get_running_loop().create_task(echo(name, process))
    return process


async def echo(name: str, process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        print(f"[{name}] {line.decode().rstrip()}")


def credited(ledger: Path) -> tuple[int, int]:
    """(orders credited, redeliveries recognised by their event id)."""
    if not ledger.exists():
        return 0, 0
    with sqlite3.connect(ledger) as db:
        try:
            credits = db.execute("SELECT COUNT(DISTINCT order_id) FROM credits").fetchone()[0]
            repeats = db.execute("SELECT COUNT(*) FROM repeats").fetchone()[0]
        except sqlite3.OperationalError:
            return 0, 0
    return credits, repeats


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: {what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def burst(orders: shop_natsrpc.OrdersClient, count: int) -> list[str]:
    placed: list[str] = []
    work = iter(range(count))

    async def caller() -> None:
        for n in work:
            request = PlaceOrderRequest(customer_id=f"c{n % 500}", amount_cents=1000 + n % 9000)
            placed.append((await orders.place_order(request)).order_id)

    await asyncio.gather(*(caller() for _ in range(64)))
    return placed


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, NatsServer(args=("-js", "-sd", tmp)) as server:
        url = server.url
        print(f"nats-server with JetStream on {url}")
        ledger = Path(tmp) / "points.sqlite"
        nc = await nats.connect(url)
        await natsrpc.ensure_streams(
            nc, shop_natsrpc.OrderEventsPublisher, shop_natsrpc.ShippingJobsPublisher
        )
        processes = [
            await start("shop_service", url),
            await start("notifications", url),
        ]
        points = await start("points", url, str(ledger))
        orders = shop_natsrpc.OrdersClient(nc, timeout=30)

        started = time.monotonic()
        placing = asyncio.get_running_loop().create_task(burst(orders, count))
        await wait_for(lambda: credited(ledger)[0] >= count // 5, "crediting")
        points.send_signal(signal.SIGKILL)
        await points.wait()
        print(f"[demo] killed points with SIGKILL after {credited(ledger)[0]} of {count} credits")
        points = await start("points", url, str(ledger))
        placed = await placing
        print(f"[demo] {len(placed)} orders placed in {time.monotonic() - started:.1f} s")
        await wait_for(lambda: credited(ledger)[0] == count, "crediting every order")
        credits, repeats = credited(ledger)
        print(
            f"[demo] points credited {credits} of {count} orders, each exactly once; "
            f"{repeats} redelivered events were recognised by their event id and skipped"
        )

        shipped = asyncio.Event()

        class WatchShipments(shop_natsrpc.OrderEvents):
            async def on_shipped(self, event: OrderShipped, context: EventContext) -> None:
                print(f"[demo] Shipped event for {event.order_id} after {elapsed():.1f} s")
                shipped.set()

        watcher = natsrpc.Server(nc)
        watcher.add_service(WatchShipments(), consumer="demo", deliver_new=True)
        await watcher.start()
        asked = time.monotonic()

        def elapsed() -> float:
            return time.monotonic() - asked

        reply = await orders.ship_order(ShipOrderRequest(order_id=placed[0]))
        print(f"[demo] ShipOrder answered in {elapsed() * 1000:.0f} ms: {reply.shipment_id}")
        await asyncio.wait_for(shipped.wait(), 30)
        await watcher.stop()

        for process in [*processes, points]:
            process.send_signal(signal.SIGTERM)
            await process.wait()
        print("[demo] every service stopped gracefully")
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
