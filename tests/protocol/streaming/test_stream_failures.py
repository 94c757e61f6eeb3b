"""Streaming calls that end early: cancellation, deadlines, errors, flow control, and either
side's process killed mid-stream (docs/protocol.md §9)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from stream_support import HEARTBEAT, TESTS

import natsrpc
import natsrpc.protocol.frames
from natsrpc.testing import NatsServer

# -- cancellation, deadlines and errors ------------------------------------------


async def test_cancel_before_the_server_accepts(
    stream_server: Any, streamer_service: Any, stream_client: Any, stream_pb2: Any
) -> None:
    # The handler sleeps before its first item, so the server has not accepted yet.
    call = stream_client.produce(stream_pb2.ProduceRequest(count=100, sleep_ms=300))
    reader = asyncio.ensure_future(call.read())
    await asyncio.wait_for(streamer_service.started_event.wait(), 5)
    assert call.cancel()
    assert not call.cancel()
    with pytest.raises(natsrpc.RpcError) as info:
        await reader
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    await asyncio.wait_for(streamer_service.cancelled_event.wait(), 5)
    await eventually(lambda: streamer_service.active == 0)


async def test_cancel_right_after_the_call_starts(
    stream_server: Any, streamer_service: Any, stream_client: Any, stream_pb2: Any
) -> None:
    call = stream_client.chat(metadata={"x-tag": "c"})
    await call.write(stream_pb2.Item(index=1, sleep_ms=5000))
    call.cancel()
    await asyncio.wait_for(streamer_service.cancelled_event.wait(), 5)
    with pytest.raises(natsrpc.RpcError) as info:
        await call.read()
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    await eventually(lambda: streamer_service.active == 0)


async def test_cancel_after_the_first_response(
    stream_server: Any, streamer_service: Any, stream_client: Any, stream_pb2: Any
) -> None:
    call = stream_client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=10))
    first = await call.read()
    assert first.index == 0
    assert call.cancel()
    await asyncio.wait_for(streamer_service.cancelled_event.wait(), 5)
    with pytest.raises(natsrpc.RpcError) as info:
        await call.read()
    assert info.value.code is natsrpc.StatusCode.CANCELLED


async def test_leaving_the_loop_early_cancels_the_call(
    stream_server: Any, streamer_service: Any, stream_client: Any, stream_pb2: Any
) -> None:
    async for item in stream_client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=10)):
        assert item.index == 0
        break
    await asyncio.wait_for(streamer_service.cancelled_event.wait(), 5)


async def test_deadline_on_a_slow_server(
    stream_server: Any, streamer_service: Any, stream_client: Any, stream_pb2: Any
) -> None:
    started = time.monotonic()
    call = stream_client.produce(stream_pb2.ProduceRequest(count=3, sleep_ms=3000), timeout=0.3)
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in call:
            pass
    assert info.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3
    await asyncio.wait_for(streamer_service.cancelled_event.wait(), 5)
    with pytest.raises(natsrpc.RpcError) as collected:
        await stream_client.collect([stream_pb2.Item(sleep_ms=3000)], timeout=0.3)
    assert collected.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED


async def test_server_deadline_reaches_a_patient_caller(
    stream_server: Any, streamer_service: Any, nc: NATS, stream_pb2: Any
) -> None:
    # Speak the protocol by hand: a short Rpc-Timeout-Ms, and wait for the end frame.
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(
        "natsrpc_test.Streamer.Produce",
        stream_pb2.ProduceRequest(count=3, sleep_ms=3000).SerializeToString(),
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
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    call = stream_client.produce(
        stream_pb2.ProduceRequest(
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


async def test_client_streaming_error(
    stream_server: Any, stream_client: Any, stream_pb2: Any
) -> None:
    items = [stream_pb2.Item(index=0), stream_pb2.Item(index=1, fail_code=5, fail_message="gone")]
    with pytest.raises(natsrpc.RpcError) as info:
        await stream_client.collect(items)
    assert (info.value.code, info.value.message) == (natsrpc.StatusCode.NOT_FOUND, "gone")
    replies = []
    with pytest.raises(natsrpc.RpcError) as chat_info:
        async for reply in stream_client.chat(items):
            replies.append(reply.index)
    assert replies == [0]
    assert chat_info.value.code is natsrpc.StatusCode.NOT_FOUND


async def test_unimplemented_streaming_method(
    nc: NATS, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(stream_natsrpc.Streamer())
    client = stream_natsrpc.StreamerClient(nc, heartbeat=HEARTBEAT)
    async with server:
        for call in (
            client.produce(stream_pb2.ProduceRequest(count=1)),
            client.chat([stream_pb2.Item()]),
        ):
            with pytest.raises(natsrpc.RpcError) as info:
                await call.read()
            assert info.value.code is natsrpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(natsrpc.RpcError) as collected:
            await client.collect([stream_pb2.Item()])
        assert collected.value.code is natsrpc.StatusCode.UNIMPLEMENTED


async def test_no_responders_is_unavailable_at_once(stream_client: Any, stream_pb2: Any) -> None:
    started = time.monotonic()
    with pytest.raises(natsrpc.RpcError) as info:
        await stream_client.produce(stream_pb2.ProduceRequest(count=1), timeout=30).read()
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 10


# -- flow control ----------------------------------------------------------------


async def test_slow_client_bounds_what_is_buffered(
    nc: NATS, stream_server: Any, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    window = 4
    client = stream_natsrpc.StreamerClient(nc, stream_window=window, heartbeat=HEARTBEAT)
    call = client.produce(stream_pb2.ProduceRequest(count=60, tag="slow-client"))
    received = 0
    ahead = []
    async for item in call:
        assert item.index == received
        received += 1
        # The server may have sent a window beyond what was read, and hold one
        # more item waiting for credit; never more.
        ahead.append(streamer_service.produced["slow-client"] - received)
        await asyncio.sleep(0.005)
    assert received == 60
    assert max(ahead) <= window + 1


async def test_slow_server_bounds_what_is_buffered(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    window = 3
    server = natsrpc.Server(nc, stream_window=window, heartbeat=HEARTBEAT)
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc, heartbeat=HEARTBEAT)
    sent = 0

    async def items() -> AsyncIterator[Any]:
        nonlocal sent
        for i in range(40):
            yield stream_pb2.Item(index=i)
            sent += 1
            # The writer is never more than the window ahead of the reader.
            assert sent - len(streamer_service.received) <= window + 1

    async with server:
        summary = await client.collect(items(), metadata={"x-read-delay-ms": "5", "x-tag": "slow"})
        assert summary.count == 40

        streamer_service.received.clear()
        chat = client.chat(metadata={"x-read-delay-ms": "5", "x-tag": "slow-chat"})
        ahead: list[int] = []
        writer = asyncio.ensure_future(
            _write_all(
                chat,
                [stream_pb2.Item(index=i) for i in range(40)],
                streamer_service.received,
                ahead,
            )
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
    nats_server: NatsServer, stream_client: Any, stream_pb2: Any, generated: Path
) -> None:
    process = _spawn(generated, "serve", nats_server.url, str(HEARTBEAT))
    try:
        await _wait_line(process, "ready")
        call = stream_client.produce(
            stream_pb2.ProduceRequest(count=10_000, sleep_ms=20), timeout=60
        )
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
    nats_server: NatsServer, stream_server: Any, streamer_service: Any, generated: Path
) -> None:
    process = _spawn(generated, "chat", nats_server.url, str(HEARTBEAT))
    try:
        await _wait_line(process, "streaming")
        assert streamer_service.active == 1
        process.kill()
        await asyncio.wait_for(streamer_service.cancelled_event.wait(), 20 * HEARTBEAT)
        await eventually(lambda: streamer_service.active == 0)
    finally:
        _reap(process)
