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
async def test_server_streaming(
    stream_server: Any, stream_client: Any, stream_pb2: Any, count: int
) -> None:
    call = stream_client.produce(stream_pb2.ProduceRequest(count=count))
    assert [item.index async for item in call] == list(range(count))
    assert await call.trailing_metadata() == {}


@pytest.mark.parametrize("count", [0, 1, 100])
async def test_client_streaming(
    stream_server: Any, stream_client: Any, stream_pb2: Any, count: int
) -> None:
    summary = await stream_client.collect([stream_pb2.Item(index=i) for i in range(count)])
    assert summary.count == count
    assert list(summary.indexes) == list(range(count))


async def test_client_streaming_from_an_async_iterable(
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    async def items() -> AsyncIterator[Any]:
        for i in range(5):
            await asyncio.sleep(0)
            yield stream_pb2.Item(index=i)

    call = stream_client.collect(items())
    assert isinstance(call, natsrpc.ClientStreamCall)
    summary = await call
    assert list(summary.indexes) == [0, 1, 2, 3, 4]
    assert await call.trailing_metadata() == {}


@pytest.mark.parametrize("count", [0, 1, 100])
async def test_bidi_streaming(
    stream_server: Any, stream_client: Any, stream_pb2: Any, count: int
) -> None:
    call = stream_client.chat([stream_pb2.Item(index=i, text=str(i)) for i in range(count)])
    replies = [(item.index, item.text) async for item in call]
    assert replies == [(i, str(i)) for i in range(count)]


async def test_bidi_ping_pong(stream_server: Any, stream_client: Any, stream_pb2: Any) -> None:
    call = stream_client.chat()
    for i in range(50):
        await call.write(stream_pb2.Item(index=i, text=f"ping {i}"))
        reply = await call.read()
        assert (reply.index, reply.text) == (i, f"ping {i}")
    await call.done_writing()
    assert await call.read() is None
    assert call.done()


async def test_empty_messages(stream_server: Any, stream_client: Any, stream_pb2: Any) -> None:
    # Item() encodes to zero bytes: a 0-byte frame must still count as a message.
    assert stream_pb2.Item().SerializeToString() == b""
    produced = [item async for item in stream_client.produce(stream_pb2.ProduceRequest(count=1))]
    assert produced == [stream_pb2.Item()]
    summary = await stream_client.collect([stream_pb2.Item()] * 3)
    assert summary.count == 3
    assert [item async for item in stream_client.chat([stream_pb2.Item()] * 3)] == [
        stream_pb2.Item()
    ] * 3


@pytest.fixture(scope="module")
def big_nats() -> Iterator[NatsServer]:
    with NatsServer(config="max_payload: 8MB\n") as big:
        yield big


async def test_one_mebibyte_messages(
    big_nats: NatsServer, stream_natsrpc: Any, stream_pb2: Any, streamer_service: Any
) -> None:
    nc = await nats.connect(big_nats.url)
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc, timeout=30, heartbeat=HEARTBEAT)
    try:
        async with server:
            items = [i async for i in client.produce(stream_pb2.ProduceRequest(count=3, size=MIB))]
            assert [len(i.blob) for i in items] == [MIB] * 3
            summary = await client.collect([stream_pb2.Item(blob=b"b" * MIB)] * 3)
            assert summary.bytes == 3 * MIB
            replies = [
                r async for r in client.chat([stream_pb2.Item(index=1, blob=b"c" * MIB)] * 3)
            ]
            assert [len(r.blob) for r in replies] == [MIB] * 3
    finally:
        await nc.close()


async def test_message_over_max_payload_is_resource_exhausted(
    stream_server: Any, stream_client: Any, stream_pb2: Any, nc: NATS
) -> None:
    call = stream_client.chat()
    with pytest.raises(natsrpc.RpcError) as info:
        await call.write(stream_pb2.Item(blob=b"x" * (nc.max_payload + 1)))
    assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    call.cancel()
    with pytest.raises(natsrpc.RpcError) as produced:
        async for _ in stream_client.produce(
            stream_pb2.ProduceRequest(count=1, size=nc.max_payload + 1)
        ):
            pass
    assert produced.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED


# -- concurrency and lifecycle -------------------------------------------------------


async def test_open_streams_do_not_block_unary_calls(
    stream_server: Any, streamer_service: Any, stream_client: Any, stream_pb2: Any
) -> None:
    calls = [stream_client.chat() for _ in range(50)]
    for i, call in enumerate(calls):
        await call.write(stream_pb2.Item(index=i))
    for i, call in enumerate(calls):
        assert (await call.read()).index == i
    assert streamer_service.active == 50
    pong = await stream_client.ping(stream_pb2.Item(index=7), timeout=2)
    assert pong.text == "pong"
    for call in calls:
        await call.done_writing()
    for call in calls:
        assert await call.read() is None
    await eventually(lambda: streamer_service.active == 0)


async def test_streams_count_against_the_concurrency_limit(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    server = natsrpc.Server(nc, max_concurrency=2, max_pending=0, heartbeat=HEARTBEAT)
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc, heartbeat=HEARTBEAT)
    async with server:
        held = [client.chat() for _ in range(2)]
        for call in held:
            await call.write(stream_pb2.Item())
            await call.read()
        with pytest.raises(natsrpc.RpcError) as info:
            await client.chat([stream_pb2.Item()]).read()
        assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
        for call in held:
            await call.done_writing()
            assert await call.read() is None
        # A slot is free again.
        assert [r async for r in client.chat([stream_pb2.Item(index=3)])] == [
            stream_pb2.Item(index=3)
        ]
        stats = server.services[0].endpoints[2].stats
        assert stats.shed == 1


async def test_stats_count_one_request_per_call(
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    assert len([i async for i in stream_client.produce(stream_pb2.ProduceRequest(count=5))]) == 5
    await stream_client.collect([stream_pb2.Item()] * 5)
    endpoints = {e.name: e.stats for e in stream_server.services[0].endpoints}
    assert endpoints["Produce"].num_requests == 1
    assert endpoints["Collect"].num_requests == 1
    assert endpoints["Produce"].in_flight == 0


async def test_graceful_stop_lets_streams_finish(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc, heartbeat=HEARTBEAT)
    await server.start()
    call = client.produce(stream_pb2.ProduceRequest(count=5, sleep_ms=50))
    assert (await call.read()).index == 0
    stopping = asyncio.ensure_future(server.stop(grace_period=10))
    rest = [item.index async for item in call]
    await stopping
    assert rest == [1, 2, 3, 4]


async def test_streams_past_the_grace_period_are_cancelled(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc, heartbeat=HEARTBEAT)
    await server.start()
    call = client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=50))
    assert (await call.read()).index == 0
    await server.stop(grace_period=0.2)
    assert streamer_service.cancelled == 1
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.CANCELLED


async def test_metadata_initial_metadata_and_trailers(
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    call = stream_client.produce(
        stream_pb2.ProduceRequest(
            count=2, echo_metadata=True, initial={"x-first": "1"}, trailers={"x-last": "2"}
        ),
        metadata={"x-user": "ada"},
    )
    assert await call.initial_metadata() == {"x-first": "1"}
    items = [item async for item in call]
    assert items[0].metadata == {"x-user": "ada"}
    assert await call.trailing_metadata() == {"x-last": "2"}

    metadata = {"x-initial": "hi", "x-trailer": "bye", "x-user": "bob"}
    collect = stream_client.collect([stream_pb2.Item()], metadata=metadata)
    summary = await collect
    assert summary.metadata == metadata
    assert await collect.initial_metadata() == {"x-initial": "hi"}
    assert await collect.trailing_metadata() == {"x-trailer": "bye"}

    chat = stream_client.chat([stream_pb2.Item()], metadata=metadata)
    assert not chat.done()
    assert await chat.initial_metadata() == {"x-initial": "hi"}
    assert [r async for r in chat] == [stream_pb2.Item()]
    assert await chat.trailing_metadata() == {"x-trailer": "bye"}


async def test_wrong_request_type_is_a_type_error(
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    with pytest.raises(TypeError):
        stream_client.produce(stream_pb2.Item())
    with pytest.raises(TypeError):
        await stream_client.chat().write(stream_pb2.ProduceRequest())
