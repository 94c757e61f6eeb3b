"""JetStream delivery: ack after success, retries with growing delays, dead letters, replay,
in-progress signals, per-key order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from event_helpers import AckLog
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.events import DeadLetters, EventContext, Reason


async def serve(nc: NATS, impl: Any, **options: Any) -> natsrpc.Server:
    server = natsrpc.Server(nc, grace_period=5)
    server.add_service(impl, **options)
    await server.start()
    return server


async def test_ack_only_after_the_handler_returns(jnc: NATS, event_sets: Any) -> None:
    release = asyncio.Event()
    seen: list[int] = []
    contexts: list[EventContext] = []

    class Points(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            seen.append(context.delivery_count)
            contexts.append(context)
            await release.wait()

    server = await serve(jnc, Points(), consumer="points", ack_wait=5)
    publisher = event_sets.ORDERS.Publisher(jnc)
    ack = await publisher.placed(event_sets.OrderPlaced(event_id="e1", order_id="o1", amount=5))
    assert (ack.stream, ack.sequence, ack.duplicate) == ("ORDERS", 1, False)
    js = jnc.jetstream()
    await eventually(lambda: seen == [1])
    assert (await js.consumer_info("ORDERS", "points")).num_ack_pending == 1
    release.set()

    async def acked() -> bool:
        info = await js.consumer_info("ORDERS", "points")
        return info.num_ack_pending == 0 and info.ack_floor.stream_seq == 1

    await eventually(acked)
    await server.stop()
    assert seen == [1]
    [context] = contexts
    assert (context.stream, context.stream_sequence, context.consumer) == ("ORDERS", 1, "points")
    assert context.subject == "evtest.orders.o1.placed"
    assert context.published is not None and context.published.tzinfo is not None
    assert context.event is event_sets.ORDERS.placed
    assert context.metadata == {}  # Nats-Msg-Id and Nats-Expected-Stream are the protocol's


async def test_failures_retry_with_growing_delays_then_dead_letter(
    jnc: NATS, event_sets: Any
) -> None:
    attempts: list[int] = []

    class Points(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            attempts.append(context.delivery_count)
            raise RuntimeError("database down")

    server = await serve(
        jnc, Points(), consumer="points", max_deliver=3, backoff=(0.1, 0.3), ack_wait=5
    )
    acks = AckLog()
    await acks.listen(jnc, "ORDERS", "points")
    await event_sets.ORDERS.Publisher(jnc).placed(
        event_sets.OrderPlaced(event_id="e1", order_id="o1"), metadata={"x-request-id": "r1"}
    )
    await eventually(lambda: len(acks.bodies()) == 3)
    await server.stop()
    naks = acks.bodies(b"-NAK")
    # Every Nak carries an explicit delay, growing with the delivery count.
    assert [json.loads(body[5:])["delay"] for body in naks] == [100_000_000, 300_000_000]
    assert acks.bodies()[2] == b"+TERM " + Reason.MAX_DELIVERIES.encode()
    assert attempts == [1, 2, 3]
    [letter] = await DeadLetters(jnc, event_sets.ORDERS.spec).list()
    assert letter.reason == Reason.MAX_DELIVERIES
    assert letter.code is natsrpc.StatusCode.INTERNAL
    assert "database down" in letter.message
    assert (letter.deliveries, letter.consumer, letter.stream) == (3, "points", "ORDERS")
    assert letter.stream_sequence == 1
    assert letter.subject == "evtest.orders.o1.placed"
    assert letter.headers["x-request-id"] == "r1"
    assert letter.headers["Nats-Msg-Id"] == "e1"
    assert event_sets.OrderPlaced.FromString(letter.data).order_id == "o1"


async def test_retry_takes_the_handlers_delay(jnc: NATS, event_sets: Any) -> None:
    attempts: list[int] = []

    class Points(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            attempts.append(context.delivery_count)
            if context.delivery_count == 1:
                raise natsrpc.Retry(delay=0.25)

    server = await serve(jnc, Points(), consumer="points", backoff=(30.0,))
    acks = AckLog()
    await acks.listen(jnc, "ORDERS", "points")
    await event_sets.ORDERS.Publisher(jnc).placed(
        event_sets.OrderPlaced(event_id="e1", order_id="o1")
    )
    await eventually(lambda: attempts == [1, 2])
    await eventually(lambda: len(acks.bodies()) == 2)
    await server.stop()
    assert acks.bodies() == [b'-NAK {"delay": 250000000}', b"+ACK"]


async def test_poison_events_are_dead_lettered_at_once_and_replayed(
    jnc: NATS, event_sets: Any
) -> None:
    fixed = asyncio.Event()
    handled: list[tuple[str, str]] = []

    class Points(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            if event.note == "reject" and not fixed.is_set():
                raise natsrpc.Reject("amount is negative")
            handled.append(("points", event.order_id))

    class Mailer(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            handled.append(("mailer", event.order_id))

    server = natsrpc.Server(jnc, grace_period=5)
    server.add_service(Points(), consumer="points", ack_wait=5)
    server.add_service(Mailer(), consumer="mailer", ack_wait=5)
    await server.start()
    js = jnc.jetstream()
    # Not an OrderPlaced: field 1 announces 5 bytes and holds 2.
    await js.publish(
        "evtest.orders.o1.placed", b"\x0a\x05ab", headers={"x-tenant": "t1", "Nats-Msg-Id": "p1"}
    )
    await event_sets.ORDERS.Publisher(jnc).placed(
        event_sets.OrderPlaced(event_id="e2", order_id="o2", note="reject"),
        metadata={"x-tenant": "t2"},
    )
    dead = DeadLetters(jnc, "ORDERS")

    async def letters(count: int) -> bool:
        return len(await dead.list()) == count

    await eventually(lambda: letters(3))
    by_reason = {(x.consumer, x.reason): x for x in await dead.list()}
    poison = by_reason[("points", Reason.UNDECODABLE)]
    assert ("mailer", Reason.UNDECODABLE) in by_reason
    assert poison.deliveries == 1 and poison.code is natsrpc.StatusCode.INVALID_ARGUMENT
    assert poison.data == b"\x0a\x05ab"
    assert poison.headers == {"x-tenant": "t1", "Nats-Msg-Id": "p1"}
    rejected = by_reason[("points", Reason.REJECTED)]
    assert rejected.deliveries == 1 and rejected.code is natsrpc.StatusCode.FAILED_PRECONDITION
    assert rejected.message == "amount is negative"
    assert rejected.headers["x-tenant"] == "t2"
    assert await dead.list("mailer") == [by_reason[("mailer", Reason.UNDECODABLE)]]

    fixed.set()
    await dead.replay(rejected)
    await eventually(lambda: ("points", "o2") in handled)
    await eventually(lambda: letters(2))
    await server.stop()
    # The replay went to the group that failed; the mailer had handled o2 already.
    assert sorted(handled) == [("mailer", "o2"), ("points", "o2")]


async def test_in_progress_keeps_a_long_handler_from_redelivery(jnc: NATS, event_sets: Any) -> None:
    deliveries: list[int] = []

    class Slow(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            deliveries.append(context.delivery_count)
            await asyncio.sleep(3.0)  # three times ack_wait

    server = await serve(jnc, Slow(), consumer="slow", ack_wait=1.0)
    acks = AckLog()
    await acks.listen(jnc, "ORDERS", "slow")
    await event_sets.ORDERS.Publisher(jnc).placed(
        event_sets.OrderPlaced(event_id="e1", order_id="o1")
    )
    await eventually(lambda: b"+ACK" in acks.bodies(), within=15)
    info = await jnc.jetstream().consumer_info("ORDERS", "slow")
    await server.stop()
    assert deliveries == [1]
    assert info.num_redelivered == 0
    assert len(acks.bodies(b"+WPI")) >= 2


async def test_per_key_order_with_concurrency(jnc: NATS, event_sets: Any) -> None:
    order: dict[str, list[int]] = {}
    running: set[str] = set()
    overlap: list[int] = []

    class Ledger(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            assert event.order_id not in running, "two events of one key ran at once"
            running.add(event.order_id)
            overlap.append(len(running))
            await asyncio.sleep(0.01 * (event.amount % 3))
            order.setdefault(event.order_id, []).append(event.amount)
            running.discard(event.order_id)

    server = await serve(jnc, Ledger(), consumer="ledger", ordered_by="order_id", max_concurrency=8)
    publisher = event_sets.ORDERS.Publisher(jnc)
    for amount in range(15):
        for key in ("a", "b", "c"):
            await publisher.placed(
                event_sets.OrderPlaced(event_id=f"{key}{amount}", order_id=key, amount=amount)
            )
    await eventually(lambda: sum(len(v) for v in order.values()) == 45, within=20)
    await server.stop()
    assert order == {key: list(range(15)) for key in ("a", "b", "c")}
    assert max(overlap) > 1, "different keys should run concurrently"


async def test_work_queue_removes_acked_events(jnc: NATS, event_sets: Any) -> None:
    events = event_sets.JOBS
    done: list[str] = []

    class Worker(events.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            done.append(event.order_id)

    server = await serve(jnc, Worker(), consumer="workers", max_concurrency=4)
    publisher = events.Publisher(jnc)
    for n in range(20):
        await publisher.placed(event_sets.OrderPlaced(event_id=f"e{n}", order_id=f"o{n}"))
    js = jnc.jetstream()

    async def empty() -> bool:
        return (await js.stream_info("JOBS")).state.messages == 0

    await eventually(lambda: len(done) == 20)
    await eventually(empty)
    await server.stop()
    assert sorted(done) == sorted(f"o{n}" for n in range(20))
