"""Streams on the wire: heartbeats, frame numbering, JSON streams spoken by hand, subjects and
limits (docs/protocol.md §9)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from stream_support import HEARTBEAT

import natsrpc
import natsrpc.protocol.frames
from natsrpc.testing import NatsServer


async def test_idle_stream_stays_alive_on_heartbeats(
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    call = stream_client.chat()
    await call.write(stream_pb2.Item(index=1))
    assert (await call.read()).index == 1
    # Ten heartbeat intervals of silence from both applications.
    await asyncio.sleep(10 * HEARTBEAT)
    await call.write(stream_pb2.Item(index=2))
    assert (await call.read()).index == 2
    await call.done_writing()
    assert await call.read() is None


# -- sequence checks ---------------------------------------------------------------


async def test_duplicate_frame_to_the_client_is_data_loss(
    stream_server: Any, streamer_service: Any, stream_client: Any, nc: NATS, stream_pb2: Any
) -> None:
    call = stream_client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=20))
    assert (await call.read()).index == 0
    await nc.publish(call._stream.inbox, b"", headers={"Rpc-Frame": "msg", "Rpc-Seq": "1"})
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.DATA_LOSS
    # The client told the server, which stopped the handler.
    await asyncio.wait_for(streamer_service.cancelled_event.wait(), 5)


async def test_gap_in_frames_to_the_server_is_data_loss(
    stream_server: Any, streamer_service: Any, stream_client: Any, nc: NATS, stream_pb2: Any
) -> None:
    call = stream_client.chat()
    await call.write(stream_pb2.Item(index=1))
    assert (await call.read()).index == 1
    await nc.publish(call._stream.peer, b"", headers={"Rpc-Frame": "msg", "Rpc-Seq": "5"})
    with pytest.raises(natsrpc.RpcError) as info:
        await call.read()
    assert info.value.code is natsrpc.StatusCode.DATA_LOSS
    await eventually(lambda: streamer_service.active == 0)


async def test_end_frame_with_a_wrong_count_is_data_loss(
    stream_server: Any, streamer_service: Any, stream_client: Any, nc: NATS, stream_pb2: Any
) -> None:
    call = stream_client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=20))
    assert (await call.read()).index == 0
    # Claims three messages were sent: the ones in between went missing.
    await nc.publish(call._stream.inbox, b"", headers={"Rpc-Frame": "end", "Rpc-Seq": "3"})
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.DATA_LOSS


# -- encodings and metadata ----------------------------------------------------------


async def test_json_stream_spoken_by_hand(stream_server: Any, nc: NATS) -> None:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(
        "natsrpc_test.Streamer.Produce",
        json.dumps({"count": 3, "trailers": {"k": "v"}}).encode(),
        reply=inbox,
        headers={
            "Rpc-Frame": "open",
            "Rpc-Window": "10",
            "Rpc-Timeout-Ms": "5000",
            "Content-Type": "application/json",
        },
    )
    frames = []
    while True:
        msg = await sub.next_msg(timeout=5)
        assert msg.headers is not None
        frames.append(msg)
        if msg.headers["Rpc-Frame"] == "end":
            break
    await sub.unsubscribe()
    kinds = [f.headers["Rpc-Frame"] for f in frames if f.headers["Rpc-Frame"] != "hb"]
    assert kinds == ["accept", "msg", "msg", "msg", "end"]
    accept, *messages, end = [f for f in frames if f.headers["Rpc-Frame"] != "hb"]
    assert accept.headers["Content-Type"] == "application/json"
    assert accept.reply
    assert [m.headers["Rpc-Seq"] for m in messages] == ["1", "2", "3"]
    assert [json.loads(m.data).get("index", 0) for m in messages] == [0, 1, 2]
    assert end.headers["Rpc-Seq"] == "3"
    assert end.headers["k"] == "v"
    assert "Nats-Service-Error-Code" not in end.headers


async def test_json_client_stream_spoken_by_hand(stream_server: Any, nc: NATS) -> None:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(
        "natsrpc_test.Streamer.Collect",
        b"",
        reply=inbox,
        headers={"Rpc-Frame": "open", "Rpc-Window": "10", "Content-Type": "application/json"},
    )
    accept = await sub.next_msg(timeout=5)
    assert accept.headers is not None
    assert accept.headers["Rpc-Frame"] == "accept"
    assert int(accept.headers["Rpc-Window"]) >= 2
    for seq in (1, 2):
        await nc.publish(
            accept.reply,
            json.dumps({"index": seq * 10}).encode(),
            headers={"Rpc-Frame": "msg", "Rpc-Seq": str(seq)},
        )
    await nc.publish(accept.reply, b"", headers={"Rpc-Frame": "end", "Rpc-Seq": "2"})
    frames = []
    while not frames or frames[-1].headers["Rpc-Frame"] != "end":
        frames.append(await sub.next_msg(timeout=5))
    data = [f for f in frames if f.headers["Rpc-Frame"] == "msg"]
    assert len(data) == 1
    assert json.loads(data[0].data) == {"count": 2, "indexes": [10, 20]}
    await sub.unsubscribe()


async def test_plain_request_to_a_streaming_method_is_refused(stream_server: Any, nc: NATS) -> None:
    raw = await nc.request("natsrpc_test.Streamer.Produce", b"", timeout=5)
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == str(int(natsrpc.StatusCode.INVALID_ARGUMENT))
    assert "Rpc-Frame" not in raw.headers


async def test_stream_message_over_the_service_limit(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT, max_message_bytes=1000)
    server.add_service(streamer_service)
    async with server:
        client = stream_natsrpc.StreamerClient(nc, timeout=10, heartbeat=HEARTBEAT)
        items = [stream_pb2.Item(index=0), stream_pb2.Item(index=1, blob=b"x" * 2000)]
        with pytest.raises(natsrpc.RpcError) as info:
            await client.collect(items)
        assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 1000 bytes" in info.value.message
        assert (await client.collect([stream_pb2.Item(index=7)])).indexes == [7]


async def test_only_the_open_frame_uses_the_method_subject(
    nats_server: NatsServer, generated: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    import stream_service

    connections = [await nats.connect(nats_server.url) for _ in range(3)]
    observer_nc = connections[2]
    seen: list[str] = []

    async def observe(msg: Any) -> None:
        seen.append((msg.headers or {}).get("Rpc-Frame", ""))

    # A plain (not queue) subscription sees every message on the subject. It is made
    # before the servers' queue subscriptions (see tests/client/test_json_client.py).
    observer = await observer_nc.subscribe("natsrpc_test.Streamer.Chat", cb=observe)
    await observer_nc.flush()
    instances = [stream_service.StreamerService() for _ in range(2)]
    servers = []
    for connection, instance in zip(connections[:2], instances, strict=True):
        server = natsrpc.Server(connection, heartbeat=HEARTBEAT)
        server.add_service(instance)
        await server.start()
        servers.append(server)
    client = stream_natsrpc.StreamerClient(observer_nc, timeout=10, heartbeat=HEARTBEAT)
    replies = [
        item.index async for item in client.chat([stream_pb2.Item(index=i) for i in range(20)])
    ]
    await observer.unsubscribe()
    for server in servers:
        await server.stop()
    for connection in connections:
        await connection.close()
    assert replies == list(range(20))
    # The queue group chose one instance; every frame after the open went to inboxes.
    assert seen == ["open"]
    assert sorted(instance.started_event.is_set() for instance in instances) == [False, True]


async def test_a_stream_handler_yielding_the_wrong_type_is_internal(
    nc: NATS, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    class Wrong(stream_natsrpc.Streamer):  # type: ignore[misc, name-defined]
        async def produce(self, request: Any, context: natsrpc.Context) -> AsyncIterator[Any]:
            yield stream_pb2.Item(index=0)
            yield stream_pb2.Summary()

    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(Wrong())
    async with server:
        call = stream_natsrpc.StreamerClient(nc, timeout=10, heartbeat=HEARTBEAT).produce(
            stream_pb2.ProduceRequest()
        )
        received = []
        with pytest.raises(natsrpc.RpcError) as info:
            async for item in call:
                received.append(item.index)
    assert received == [0]
    assert info.value.code is natsrpc.StatusCode.INTERNAL
