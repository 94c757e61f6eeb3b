"""Graceful stop hands back what is left; events no attempt answered become dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats
import nats.errors
import nats.js.errors
from event_helpers import AckLog
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.events import DeadLetters, EventContext, Reason
from natsrpc.testing import NatsServer


async def test_stop_acks_finished_events_and_naks_the_rest_for_at_once_redelivery(
    jnc: NATS, event_sets: Any
) -> None:
    stuck = asyncio.Event()
    seen: list[tuple[str, int]] = []

    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            seen.append((event.order_id, context.delivery_count))
            if event.note == "slow":
                await stuck.wait()

    first = natsrpc.Server(jnc)
    first.add_service(Points(), consumer="points")  # the default ack wait: 30 s
    await first.start()
    acks = AckLog()
    await acks.listen(jnc, "ORDERS", "points")
    publisher = event_sets.ORDERS.Publisher(jnc)
    await publisher.placed(event_sets.OrderPlaced(order_id="slow", note="slow"))
    await publisher.placed(event_sets.OrderPlaced(order_id="fast"))
    await eventually(lambda: len(seen) == 2)
    await first.stop(grace_period=0.3)
    # The acks come back to the listener's subscription task, after stop() returns.
    await eventually(lambda: len(acks.bodies()) >= 2)
    assert sorted(acks.bodies()) == [b"+ACK", b"-NAK"]

    stuck.set()
    second = natsrpc.Server(jnc)
    second.add_service(Points(), consumer="points")
    await second.start()
    # Redelivered at once, well before the 30 s ack wait.
    await eventually(lambda: ("slow", 2) in seen, within=5)
    await second.stop()


async def test_events_no_attempt_answered_become_dead_letters(
    js_server: NatsServer, event_sets: Any
) -> None:
    hang = asyncio.Event()
    seen: list[int] = []

    class Hangs(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            seen.append(context.delivery_count)
            await hang.wait()

    options: dict[str, Any] = {"consumer": "points", "ack_wait": 1.0, "max_deliver": 2}
    connections = [await nats.connect(js_server.url) for _ in range(3)]
    servers = [natsrpc.Server(nc) for nc in connections]
    for server in servers:
        server.add_service(Hangs(), **options)
    try:
        await servers[0].start()
        await event_sets.ORDERS.Publisher(connections[2]).placed(
            event_sets.OrderPlaced(order_id="o1")
        )
        # Each instance dies with the event in hand: its connection goes, no answer is sent.
        await eventually(lambda: seen == [1])
        await connections[0].close()
        await servers[1].start()
        await eventually(lambda: seen == [1, 2], within=5)
        await connections[1].close()
        await servers[2].start()
        dead = DeadLetters(connections[2], event_sets.ORDERS.spec)

        async def dead_lettered() -> bool:
            return len(await dead.list()) == 1

        await eventually(dead_lettered, within=5)
        [letter] = await dead.list()
        assert (letter.reason, letter.deliveries) == (Reason.ABANDONED, 2)
        assert letter.code is natsrpc.StatusCode.DEADLINE_EXCEEDED
        assert letter.subject == "evtest.orders.o1.placed"
    finally:
        hang.set()
        for server in servers:
            # Two of the connections were closed on purpose: stopping stops their
            # consumers, then cannot drain what is already gone.
            with contextlib.suppress(nats.errors.ConnectionClosedError):
                await server.stop(1.0)
        for nc in connections:
            await nc.close()


async def test_a_deleted_consumer_is_recreated(jnc: NATS, event_sets: Any) -> None:
    handled: list[str] = []

    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            handled.append(event.order_id)

    server = natsrpc.Server(jnc)
    server.add_service(Points(), consumer="points", deliver_new=True)
    await server.start()
    publisher = event_sets.ORDERS.Publisher(jnc)
    await publisher.placed(event_sets.OrderPlaced(order_id="o1"))
    await eventually(lambda: handled == ["o1"])
    await jnc.jetstream().delete_consumer("ORDERS", "points")
    js = jnc.jetstream()

    async def recreated() -> bool:
        try:
            await js.consumer_info("ORDERS", "points")
        except nats.js.errors.NotFoundError:
            return False
        return True

    await eventually(recreated)
    await publisher.placed(event_sets.OrderPlaced(order_id="o2"))
    try:
        await eventually(lambda: "o2" in handled, within=10)
    finally:
        await server.stop()


async def test_stop_returns_when_a_handler_finishes_as_it_begins(
    jnc: NATS, event_sets: Any
) -> None:
    # The handler's end wakes the pull loop in the same loop iteration as stop()
    # cancels it: asyncio.wait_for (Python < 3.12) returned the wake-up and dropped
    # the cancellation, so the loop went on pulling and stop() never returned.
    stops: list[asyncio.Task[None]] = []

    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            stops.append(asyncio.ensure_future(server.stop(1.0)))

    server = natsrpc.Server(jnc)
    server.add_service(Points(), consumer="points")
    await server.start()
    acks = AckLog()
    await acks.listen(jnc, "ORDERS", "points")
    await event_sets.ORDERS.Publisher(jnc).placed(event_sets.OrderPlaced(order_id="o1"))
    await eventually(lambda: len(stops) == 1)
    await asyncio.wait_for(stops[0], timeout=10)
    await eventually(lambda: acks.bodies() == [b"+ACK"])
