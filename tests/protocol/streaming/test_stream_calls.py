"""Streaming calls of every kind end to end against a real nats-server: messages, sizes,
concurrency, graceful stop, metadata (docs/protocol.md §9)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from stream_support import HEARTBEAT

import natsrpc
import natsrpc.protocol.frames
from natsrpc.testing import NatsServer

MIB = 1 << 20


# -- every kind with zero, one and many messages ------------------------------------


@pytest.mark.parametrize("count", [0, 1, 100])
async def test_server_streaming(server: Any, client: Any, pb: Any, count: int) -> None:
    call = client.produce(pb.ProduceRequest(count=count))
    assert [item.index async for item in call] == list(range(count))
    assert await call.trailing_metadata() == {}


@pytest.mark.parametrize("count", [0, 1, 100])
async def test_client_streaming(server: Any, client: Any, pb: Any, count: int) -> None:
    summary = await client.collect([pb.Item(index=i) for i in range(count)])
    assert summary.count == count
    assert list(summary.indexes) == list(range(count))


async def test_client_streaming_from_an_async_iterable(server: Any, client: Any, pb: Any) -> None:
    async def items() -> AsyncIterator[Any]:
        for i in range(5):
            await asyncio.sleep(0)
            yield pb.Item(index=i)

    call = client.collect(items())
    assert isinstance(call, natsrpc.ClientStreamCall)
    summary = await call
    assert list(summary.indexes) == [0, 1, 2, 3, 4]
    assert await call.trailing_metadata() == {}


@pytest.mark.parametrize("count", [0, 1, 100])
async def test_bidi_streaming(server: Any, client: Any, pb: Any, count: int) -> None:
    call = client.chat([pb.Item(index=i, text=str(i)) for i in range(count)])
    replies = [(item.index, item.text) async for item in call]
    assert replies == [(i, str(i)) for i in range(count)]


async def test_bidi_ping_pong(server: Any, client: Any, pb: Any) -> None:
    call = client.chat()
    for i in range(50):
        await call.write(pb.Item(index=i, text=f"ping {i}"))
        reply = await call.read()
        assert (reply.index, reply.text) == (i, f"ping {i}")
    await call.done_writing()
    assert await call.read() is None
    assert call.done()


async def test_empty_messages(server: Any, client: Any, pb: Any) -> None:
    # Item() encodes to zero bytes: a 0-byte frame must still count as a message.
    assert pb.Item().SerializeToString() == b""
    produced = [item async for item in client.produce(pb.ProduceRequest(count=1))]
    assert produced == [pb.Item()]
    summary = await client.collect([pb.Item()] * 3)
    assert summary.count == 3
    assert [item async for item in client.chat([pb.Item()] * 3)] == [pb.Item()] * 3


@pytest.fixture(scope="module")
def big_nats() -> Iterator[NatsServer]:
    with NatsServer(config="max_payload: 8MB\n") as big:
        yield big


async def test_one_mebibyte_messages(big_nats: NatsServer, stubs: Any, pb: Any, impl: Any) -> None:
    nc = await nats.connect(big_nats.url)
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(impl)
    client = stubs.StreamerClient(nc, timeout=30, heartbeat=HEARTBEAT)
    try:
        async with server:
            items = [i async for i in client.produce(pb.ProduceRequest(count=3, size=MIB))]
            assert [len(i.blob) for i in items] == [MIB] * 3
            summary = await client.collect([pb.Item(blob=b"b" * MIB)] * 3)
            assert summary.bytes == 3 * MIB
            replies = [r async for r in client.chat([pb.Item(index=1, blob=b"c" * MIB)] * 3)]
            assert [len(r.blob) for r in replies] == [MIB] * 3
    finally:
        await nc.close()


async def test_message_over_max_payload_is_resource_exhausted(
    server: Any, client: Any, pb: Any, nc: NATS
) -> None:
    call = client.chat()
    with pytest.raises(natsrpc.RpcError) as info:
        await call.write(pb.Item(blob=b"x" * (nc.max_payload + 1)))
    assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    call.cancel()
    with pytest.raises(natsrpc.RpcError) as produced:
        async for _ in client.produce(pb.ProduceRequest(count=1, size=nc.max_payload + 1)):
            pass
    assert produced.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED


# -- concurrency and lifecycle -------------------------------------------------------


async def test_open_streams_do_not_block_unary_calls(
    server: Any, impl: Any, client: Any, pb: Any
) -> None:
    calls = [client.chat() for _ in range(50)]
    for i, call in enumerate(calls):
        await call.write(pb.Item(index=i))
    for i, call in enumerate(calls):
        assert (await call.read()).index == i
    assert impl.active == 50
    pong = await client.ping(pb.Item(index=7), timeout=2)
    assert pong.text == "pong"
    for call in calls:
        await call.done_writing()
    for call in calls:
        assert await call.read() is None
    await eventually(lambda: impl.active == 0)


async def test_streams_count_against_the_concurrency_limit(
    nc: NATS, impl: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc, max_concurrency=2, max_pending=0, heartbeat=HEARTBEAT)
    server.add_service(impl)
    client = stubs.StreamerClient(nc, heartbeat=HEARTBEAT)
    async with server:
        held = [client.chat() for _ in range(2)]
        for call in held:
            await call.write(pb.Item())
            await call.read()
        with pytest.raises(natsrpc.RpcError) as info:
            await client.chat([pb.Item()]).read()
        assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
        for call in held:
            await call.done_writing()
            assert await call.read() is None
        # A slot is free again.
        assert [r async for r in client.chat([pb.Item(index=3)])] == [pb.Item(index=3)]
        stats = server.services[0].endpoints[2].stats
        assert stats.shed == 1


async def test_stats_count_one_request_per_call(server: Any, client: Any, pb: Any) -> None:
    assert len([i async for i in client.produce(pb.ProduceRequest(count=5))]) == 5
    await client.collect([pb.Item()] * 5)
    endpoints = {e.name: e.stats for e in server.services[0].endpoints}
    assert endpoints["Produce"].num_requests == 1
    assert endpoints["Collect"].num_requests == 1
    assert endpoints["Produce"].in_flight == 0


async def test_graceful_stop_lets_streams_finish(nc: NATS, impl: Any, stubs: Any, pb: Any) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(impl)
    client = stubs.StreamerClient(nc, heartbeat=HEARTBEAT)
    await server.start()
    call = client.produce(pb.ProduceRequest(count=5, sleep_ms=50))
    assert (await call.read()).index == 0
    stopping = asyncio.ensure_future(server.stop(grace_period=10))
    rest = [item.index async for item in call]
    await stopping
    assert rest == [1, 2, 3, 4]


async def test_streams_past_the_grace_period_are_cancelled(
    nc: NATS, impl: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(impl)
    client = stubs.StreamerClient(nc, heartbeat=HEARTBEAT)
    await server.start()
    call = client.produce(pb.ProduceRequest(count=1000, sleep_ms=50))
    assert (await call.read()).index == 0
    await server.stop(grace_period=0.2)
    assert impl.cancelled == 1
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.CANCELLED


async def test_metadata_initial_metadata_and_trailers(server: Any, client: Any, pb: Any) -> None:
    call = client.produce(
        pb.ProduceRequest(
            count=2, echo_metadata=True, initial={"x-first": "1"}, trailers={"x-last": "2"}
        ),
        metadata={"x-user": "ada"},
    )
    assert await call.initial_metadata() == {"x-first": "1"}
    items = [item async for item in call]
    assert items[0].metadata == {"x-user": "ada"}
    assert await call.trailing_metadata() == {"x-last": "2"}

    metadata = {"x-initial": "hi", "x-trailer": "bye", "x-user": "bob"}
    collect = client.collect([pb.Item()], metadata=metadata)
    summary = await collect
    assert summary.metadata == metadata
    assert await collect.initial_metadata() == {"x-initial": "hi"}
    assert await collect.trailing_metadata() == {"x-trailer": "bye"}

    chat = client.chat([pb.Item()], metadata=metadata)
    assert not chat.done()
    assert await chat.initial_metadata() == {"x-initial": "hi"}
    assert [r async for r in chat] == [pb.Item()]
    assert await chat.trailing_metadata() == {"x-trailer": "bye"}


async def test_wrong_request_type_is_a_type_error(server: Any, client: Any, pb: Any) -> None:
    with pytest.raises(TypeError):
        client.produce(pb.Item())
    with pytest.raises(TypeError):
        await client.chat().write(pb.ProduceRequest())
