"""Streaming calls of every kind end to end against a real nats-server (docs/protocol.md §9)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.testing import NatsServer

HEARTBEAT = 0.2
"""Short heartbeats so that liveness tests finish quickly."""
TESTS = Path(__file__).resolve().parents[1]
MIB = 1 << 20


@pytest.fixture
def pb(generated: Any) -> Any:
    from natsrpc_test import stream_pb2

    return stream_pb2


@pytest.fixture
def stubs(generated: Any) -> Any:
    from natsrpc_test import stream_natsrpc

    return stream_natsrpc


@pytest.fixture
def impl(generated: Any) -> Any:
    import stream_service

    return stream_service.StreamerService()


@pytest.fixture
async def server(nc: NATS, impl: Any) -> AsyncIterator[natsrpc.Server]:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(impl)
    async with server:
        yield server


@pytest.fixture
def client(nc: NATS, stubs: Any) -> Any:
    return stubs.StreamerClient(nc, timeout=10, heartbeat=HEARTBEAT)


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


# -- cancellation, deadlines and errors ------------------------------------------


async def test_cancel_before_the_server_accepts(
    server: Any, impl: Any, client: Any, pb: Any
) -> None:
    # The handler sleeps before its first item, so the server has not accepted yet.
    call = client.produce(pb.ProduceRequest(count=100, sleep_ms=300))
    reader = asyncio.ensure_future(call.read())
    await asyncio.wait_for(impl.started_event.wait(), 5)
    assert call.cancel()
    assert not call.cancel()
    with pytest.raises(natsrpc.RpcError) as info:
        await reader
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    await asyncio.wait_for(impl.cancelled_event.wait(), 5)
    await eventually(lambda: impl.active == 0)


async def test_cancel_right_after_the_call_starts(
    server: Any, impl: Any, client: Any, pb: Any
) -> None:
    call = client.chat(metadata={"x-tag": "c"})
    await call.write(pb.Item(index=1, sleep_ms=5000))
    call.cancel()
    await asyncio.wait_for(impl.cancelled_event.wait(), 5)
    with pytest.raises(natsrpc.RpcError) as info:
        await call.read()
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    await eventually(lambda: impl.active == 0)


async def test_cancel_after_the_first_response(
    server: Any, impl: Any, client: Any, pb: Any
) -> None:
    call = client.produce(pb.ProduceRequest(count=1000, sleep_ms=10))
    first = await call.read()
    assert first.index == 0
    assert call.cancel()
    await asyncio.wait_for(impl.cancelled_event.wait(), 5)
    with pytest.raises(natsrpc.RpcError) as info:
        await call.read()
    assert info.value.code is natsrpc.StatusCode.CANCELLED


async def test_leaving_the_loop_early_cancels_the_call(
    server: Any, impl: Any, client: Any, pb: Any
) -> None:
    async for item in client.produce(pb.ProduceRequest(count=1000, sleep_ms=10)):
        assert item.index == 0
        break
    await asyncio.wait_for(impl.cancelled_event.wait(), 5)


async def test_deadline_on_a_slow_server(server: Any, impl: Any, client: Any, pb: Any) -> None:
    started = time.monotonic()
    call = client.produce(pb.ProduceRequest(count=3, sleep_ms=3000), timeout=0.3)
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3
    await asyncio.wait_for(impl.cancelled_event.wait(), 5)
    with pytest.raises(natsrpc.RpcError) as collected:
        await client.collect([pb.Item(sleep_ms=3000)], timeout=0.3)
    assert collected.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED


async def test_server_deadline_reaches_a_patient_caller(
    server: Any, impl: Any, nc: NATS, pb: Any
) -> None:
    # Speak the protocol by hand: a short Rpc-Timeout-Ms, and wait for the end frame.
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(
        "natsrpc_test.Streamer.Produce",
        pb.ProduceRequest(count=3, sleep_ms=3000).SerializeToString(),
        reply=inbox,
        headers={"Rpc-Frame": "open", "Rpc-Window": "4", "Rpc-Timeout-Ms": "200"},
    )
    while True:
        frame = await sub.next_msg(timeout=5)
        if frame.headers and frame.headers.get("Rpc-Frame") == "end":
            break
    assert frame.headers["Nats-Service-Error-Code"] == "4"
    assert frame.headers["Rpc-Seq"] == "0"
    await sub.unsubscribe()


async def test_server_error_mid_stream_follows_the_messages(
    server: Any, client: Any, pb: Any
) -> None:
    call = client.produce(
        pb.ProduceRequest(
            count=10, fail_after=3, fail_code=9, fail_message="ran dry", trailers={"x-why": "dry"}
        )
    )
    received = []
    with pytest.raises(natsrpc.RpcError) as info:
        async for item in call:
            received.append(item.index)
    assert received == [0, 1, 2]
    assert info.value.code is natsrpc.StatusCode.FAILED_PRECONDITION
    assert info.value.message == "ran dry"
    assert info.value.metadata == {"x-why": "dry"}
    assert await call.trailing_metadata() == {"x-why": "dry"}


async def test_client_streaming_error(server: Any, client: Any, pb: Any) -> None:
    items = [pb.Item(index=0), pb.Item(index=1, fail_code=5, fail_message="gone")]
    with pytest.raises(natsrpc.RpcError) as info:
        await client.collect(items)
    assert (info.value.code, info.value.message) == (natsrpc.StatusCode.NOT_FOUND, "gone")
    replies = []
    with pytest.raises(natsrpc.RpcError) as chat_info:
        async for reply in client.chat(items):
            replies.append(reply.index)
    assert replies == [0]
    assert chat_info.value.code is natsrpc.StatusCode.NOT_FOUND


async def test_unimplemented_streaming_method(nc: NATS, stubs: Any, pb: Any) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(stubs.Streamer())
    client = stubs.StreamerClient(nc, heartbeat=HEARTBEAT)
    async with server:
        for call in (
            client.produce(pb.ProduceRequest(count=1)),
            client.chat([pb.Item()]),
        ):
            with pytest.raises(natsrpc.RpcError) as info:
                await call.read()
            assert info.value.code is natsrpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(natsrpc.RpcError) as collected:
            await client.collect([pb.Item()])
        assert collected.value.code is natsrpc.StatusCode.UNIMPLEMENTED


async def test_no_responders_is_unavailable_at_once(client: Any, pb: Any) -> None:
    started = time.monotonic()
    with pytest.raises(natsrpc.RpcError) as info:
        await client.produce(pb.ProduceRequest(count=1), timeout=30).read()
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 10


# -- flow control ----------------------------------------------------------------


async def test_slow_client_bounds_what_is_buffered(
    nc: NATS, server: Any, impl: Any, stubs: Any, pb: Any
) -> None:
    window = 4
    client = stubs.StreamerClient(nc, stream_window=window, heartbeat=HEARTBEAT)
    call = client.produce(pb.ProduceRequest(count=60, tag="slow-client"))
    received = 0
    ahead = []
    async for item in call:
        assert item.index == received
        received += 1
        # The server may have sent a window beyond what was read, and hold one
        # more item waiting for credit; never more.
        ahead.append(impl.produced["slow-client"] - received)
        await asyncio.sleep(0.005)
    assert received == 60
    assert max(ahead) <= window + 1


async def test_slow_server_bounds_what_is_buffered(
    nc: NATS, impl: Any, stubs: Any, pb: Any
) -> None:
    window = 3
    server = natsrpc.Server(nc, stream_window=window, heartbeat=HEARTBEAT)
    server.add_service(impl)
    client = stubs.StreamerClient(nc, heartbeat=HEARTBEAT)
    sent = 0

    async def items() -> AsyncIterator[Any]:
        nonlocal sent
        for i in range(40):
            yield pb.Item(index=i)
            sent += 1
            # The writer is never more than the window ahead of the reader.
            assert sent - len(impl.received) <= window + 1

    async with server:
        summary = await client.collect(items(), metadata={"x-read-delay-ms": "5", "x-tag": "slow"})
        assert summary.count == 40

        impl.received.clear()
        chat = client.chat(metadata={"x-read-delay-ms": "5", "x-tag": "slow-chat"})
        ahead: list[int] = []
        writer = asyncio.ensure_future(
            _write_all(chat, [pb.Item(index=i) for i in range(40)], impl.received, ahead)
        )
        replies = [r.index async for r in chat]
        await writer
        assert replies == list(range(40))
        assert max(ahead) <= window + 1


async def _write_all(
    call: Any, items: list[Any], read: list[int] | None = None, ahead: list[int] | None = None
) -> None:
    for written, item in enumerate(items, 1):
        await call.write(item)
        if read is not None and ahead is not None:
            ahead.append(written - len(read))
    await call.done_writing()


# -- liveness ----------------------------------------------------------------------


def _child_env(generated: Path) -> dict[str, str]:
    paths = [str(generated), str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _spawn(generated: Path, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "stream_service.py"), *args],
        env=_child_env(generated),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process


def _reap(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


async def _wait_line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
    assert line.strip() == expected


async def test_server_killed_mid_stream_is_unavailable(
    nats_server: NatsServer, client: Any, pb: Any, generated: Path
) -> None:
    process = _spawn(generated, "serve", nats_server.url, str(HEARTBEAT))
    try:
        await _wait_line(process, "ready")
        call = client.produce(pb.ProduceRequest(count=10_000, sleep_ms=20), timeout=60)
        assert (await call.read()).index == 0
        process.kill()
        killed = time.monotonic()
        with pytest.raises(natsrpc.RpcError) as info:
            async for _ in call:
                pass
        assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
        # A few heartbeats, far from the 60 s deadline.
        assert time.monotonic() - killed < 20 * HEARTBEAT
    finally:
        _reap(process)


async def test_client_killed_mid_stream_cancels_the_handler(
    nats_server: NatsServer, server: Any, impl: Any, generated: Path
) -> None:
    process = _spawn(generated, "chat", nats_server.url, str(HEARTBEAT))
    try:
        await _wait_line(process, "streaming")
        assert impl.active == 1
        process.kill()
        await asyncio.wait_for(impl.cancelled_event.wait(), 20 * HEARTBEAT)
        await eventually(lambda: impl.active == 0)
    finally:
        _reap(process)


async def test_idle_stream_stays_alive_on_heartbeats(server: Any, client: Any, pb: Any) -> None:
    call = client.chat()
    await call.write(pb.Item(index=1))
    assert (await call.read()).index == 1
    # Ten heartbeat intervals of silence from both applications.
    await asyncio.sleep(10 * HEARTBEAT)
    await call.write(pb.Item(index=2))
    assert (await call.read()).index == 2
    await call.done_writing()
    assert await call.read() is None


# -- sequence checks ---------------------------------------------------------------


async def test_duplicate_frame_to_the_client_is_data_loss(
    server: Any, impl: Any, client: Any, nc: NATS, pb: Any
) -> None:
    call = client.produce(pb.ProduceRequest(count=1000, sleep_ms=20))
    assert (await call.read()).index == 0
    await nc.publish(call._stream.inbox, b"", headers={"Rpc-Frame": "msg", "Rpc-Seq": "1"})
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.DATA_LOSS
    # The client told the server, which stopped the handler.
    await asyncio.wait_for(impl.cancelled_event.wait(), 5)


async def test_gap_in_frames_to_the_server_is_data_loss(
    server: Any, impl: Any, client: Any, nc: NATS, pb: Any
) -> None:
    call = client.chat()
    await call.write(pb.Item(index=1))
    assert (await call.read()).index == 1
    await nc.publish(call._stream.peer, b"", headers={"Rpc-Frame": "msg", "Rpc-Seq": "5"})
    with pytest.raises(natsrpc.RpcError) as info:
        await call.read()
    assert info.value.code is natsrpc.StatusCode.DATA_LOSS
    await eventually(lambda: impl.active == 0)


async def test_end_frame_with_a_wrong_count_is_data_loss(
    server: Any, impl: Any, client: Any, nc: NATS, pb: Any
) -> None:
    call = client.produce(pb.ProduceRequest(count=1000, sleep_ms=20))
    assert (await call.read()).index == 0
    # Claims three messages were sent: the ones in between went missing.
    await nc.publish(call._stream.inbox, b"", headers={"Rpc-Frame": "end", "Rpc-Seq": "3"})
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.DATA_LOSS


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


# -- encodings and metadata ----------------------------------------------------------


async def test_json_stream_spoken_by_hand(server: Any, nc: NATS) -> None:
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


async def test_json_client_stream_spoken_by_hand(server: Any, nc: NATS) -> None:
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


async def test_plain_request_to_a_streaming_method_is_refused(server: Any, nc: NATS) -> None:
    raw = await nc.request("natsrpc_test.Streamer.Produce", b"", timeout=5)
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == str(int(natsrpc.StatusCode.INVALID_ARGUMENT))
    assert "Rpc-Frame" not in raw.headers


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


async def test_stream_message_over_the_service_limit(
    nc: NATS, impl: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT, max_message_bytes=1000)
    server.add_service(impl)
    async with server:
        client = stubs.StreamerClient(nc, timeout=10, heartbeat=HEARTBEAT)
        items = [pb.Item(index=0), pb.Item(index=1, blob=b"x" * 2000)]
        with pytest.raises(natsrpc.RpcError) as info:
            await client.collect(items)
        assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 1000 bytes" in info.value.message
        assert (await client.collect([pb.Item(index=7)])).indexes == [7]


async def test_only_the_open_frame_uses_the_method_subject(
    nats_server: NatsServer, generated: Any, stubs: Any, pb: Any
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
    client = stubs.StreamerClient(observer_nc, timeout=10, heartbeat=HEARTBEAT)
    replies = [item.index async for item in client.chat([pb.Item(index=i) for i in range(20)])]
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
    nc: NATS, stubs: Any, pb: Any
) -> None:
    class Wrong(stubs.Streamer):  # type: ignore[misc, name-defined]
        async def produce(self, request: Any, context: natsrpc.Context) -> AsyncIterator[Any]:
            yield pb.Item(index=0)
            yield pb.Summary()

    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(Wrong())
    async with server:
        call = stubs.StreamerClient(nc, timeout=10, heartbeat=HEARTBEAT).produce(
            pb.ProduceRequest()
        )
        received = []
        with pytest.raises(natsrpc.RpcError) as info:
            async for item in call:
                received.append(item.index)
    assert received == [0]
    assert info.value.code is natsrpc.StatusCode.INTERNAL
