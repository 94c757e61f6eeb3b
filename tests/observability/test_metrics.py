"""Metrics scraped over HTTP after a known mix of calls and events: every count exact."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from scrape import scrape, value

import natsrpc
from natsrpc.events import EventContext, Reject, Retry
from natsrpc.metrics import Probes

S = natsrpc.StatusCode
ECHO = "natsrpc_test.Echo/Echo"


async def test_rpc_counts_are_exact(
    nc: NATS,
    probes: Probes,
    echo_service: Any,
    echo_natsrpc: Any,
    echo_pb2: Any,
    stream_natsrpc: Any,
    stream_pb2: Any,
    streamer_service: Any,
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl, max_concurrency=1, max_pending=0)
    server.add_service(streamer_service)
    async with server:
        probes.watch(server)
        client = echo_natsrpc.EchoClient(nc)
        for text in ("a", "b", "c"):
            assert (await client.echo(echo_pb2.EchoRequest(text=text))).text == text
        with pytest.raises(natsrpc.RpcError) as missing:
            await client.echo(echo_pb2.EchoRequest(fail_code=S.NOT_FOUND, fail_message="no"))
        assert missing.value.code is S.NOT_FOUND
        items = [
            i
            async for i in stream_natsrpc.StreamerClient(nc).produce(
                stream_pb2.ProduceRequest(count=4)
            )
        ]
        assert len(items) == 4
        slow = asyncio.ensure_future(
            client.echo(echo_pb2.EchoRequest(text="slow", sleep_ms=10_000))
        )
        await eventually(lambda: impl.active == 1)
        with pytest.raises(natsrpc.RpcError) as shed:
            await client.echo(echo_pb2.EchoRequest(text="shed"))
        assert shed.value.code is S.RESOURCE_EXHAUSTED
        slow.cancel()
        await eventually(lambda: impl.active == 0)

        text = await scrape(probes.port)

    def count(side: str, status: str, method: str = ECHO) -> float:
        return value(
            text,
            f"rpc_{side}_call_duration_seconds_count",
            rpc_method=method,
            rpc_response_status_code=status,
        )

    assert count("server", "OK") == 3
    assert count("server", "NOT_FOUND") == 1
    assert count("client", "OK") == 3
    assert count("client", "NOT_FOUND") == 1
    assert count("client", "RESOURCE_EXHAUSTED") == 1
    assert count("client", "CANCELLED") == 1
    # The shed call never reached a handler: the server counts it apart.
    assert count("server", "RESOURCE_EXHAUSTED") == 0
    assert value(text, "natsrpc_server_shed_calls_total", rpc_method=ECHO) == 1
    produce = "natsrpc_test.Streamer/Produce"
    assert count("server", "OK", produce) == 1
    assert value(text, "rpc_server_responses_per_rpc_sum", rpc_method=produce) == 4
    assert value(text, "rpc_server_requests_per_rpc_sum", rpc_method=produce) == 1
    assert value(text, "rpc_client_responses_per_rpc_sum", rpc_method=produce) == 4
    assert value(text, "natsrpc_client_active_calls", rpc_method=ECHO) == 0
    assert value(text, "natsrpc_server_active_calls", rpc_method=ECHO) == 0


async def test_event_counts_are_exact(jnc: NATS, probes: Probes, events: Any) -> None:
    from evtest.events_pb2 import OrderPlaced

    orders = events.ORDERS
    handled: list[str] = []

    class Orders(orders.Handlers):  # type: ignore[misc, name-defined]
        async def on_placed(self, event: OrderPlaced, context: EventContext) -> None:
            if event.order_id == "flaky" and context.delivery_count == 1:
                raise Retry(delay=0.01)
            if event.order_id == "bad":
                raise Retry(delay=0.01)
            if event.order_id == "poison":
                raise Reject("not an order we take")
            handled.append(event.order_id)

    server = natsrpc.Server(jnc)
    server.add_service(Orders(), consumer="billing", max_deliver=2)
    async with server:
        probes.watch(server)
        publisher = orders.Publisher(jnc)
        for number, order in enumerate(("ok-1", "ok-2", "flaky", "bad", "poison")):
            await publisher.placed(OrderPlaced(event_id=str(number), order_id=order))

        async def settled() -> bool:
            text = await scrape(probes.port)
            return value(text, "messaging_process_duration_seconds_count") == 7

        await eventually(settled)
        text = await scrape(probes.port)
    assert sorted(handled) == ["flaky", "ok-1", "ok-2"]

    def process(outcome: str) -> float:
        return value(
            text,
            "messaging_process_duration_seconds_count",
            natsrpc_event="evtest.OrderEvents/Placed",
            messaging_consumer_group_name="billing",
            natsrpc_stream="ORDERS",
            natsrpc_outcome=outcome,
        )

    assert process("acked") == 3
    assert process("retried") == 2  # flaky once, bad once
    assert process("dead_lettered") == 1  # bad, after max_deliver=2
    assert process("rejected") == 1
    published = "messaging_client_sent_messages_total"
    placed = "evtest.OrderEvents/Placed"
    assert value(text, published, natsrpc_event=placed, natsrpc_outcome="ok") == 5
    attempts = "natsrpc_event_delivery_attempts_sum"
    assert value(text, attempts, natsrpc_outcome="acked") == 1 + 1 + 2
    assert value(text, attempts, natsrpc_outcome="dead_lettered") == 2
    # Event handlers are not RPCs: nothing of theirs is counted as a call served.
    assert value(text, "rpc_server_call_duration_seconds_count") == 0


async def test_dropped_core_events_are_counted(nc: NATS, probes: Probes, events: Any) -> None:
    from evtest.events_pb2 import Ping

    release = asyncio.Event()
    taken: list[str] = []

    class Pings(events.PingEvents):  # type: ignore[misc, name-defined]
        async def on_pinged(self, event: Ping, context: EventContext) -> None:
            taken.append(event.id)
            await release.wait()

    server = natsrpc.Server(nc)
    server.add_service(Pings(), max_concurrency=1, max_pending=1)
    async with server:
        probes.watch(server)
        publisher = events.PingEventsPublisher(nc)
        await publisher.pinged(Ping(id="first"))
        await eventually(lambda: taken == ["first"])
        for number in range(4):  # one waits for the slot, three are dropped
            await publisher.pinged(Ping(id=str(number)))

        async def dropped() -> bool:
            text = await scrape(probes.port)
            return value(text, "natsrpc_event_dropped_total") == 3

        await eventually(dropped)
        release.set()
        await eventually(lambda: len(taken) == 2)
    text = await scrape(probes.port)
    assert value(text, "natsrpc_event_dropped_total", natsrpc_event="evtest.PingEvents/Pinged") == 3
