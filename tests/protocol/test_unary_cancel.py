"""A unary caller that gives up tells the server, which stops the call (docs/protocol.md §2.4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import nats
import pytest
from helpers import eventually, wiretap
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.testing import NatsServer

S = natsrpc.StatusCode
CANCEL_SUBJECT = "natsrpc_test.Echo.$cancel"


@pytest.fixture
async def server_nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    """The server's own connection: a caller's notice must cross nats-server to reach it."""
    connection = await nats.connect(nats_server.url)
    yield connection
    await connection.close()


async def serve(
    server_nc: NATS, echo_service: ModuleType, **options: Any
) -> tuple[Any, natsrpc.Server]:
    impl = echo_service.EchoService()
    server = natsrpc.Server(server_nc, **options)
    server.add_service(impl)
    await server.start()
    return impl, server


def errors_of(server: natsrpc.Server) -> tuple[int, str]:
    endpoint = next(e for e in server.services[0].endpoints if e.name == "Echo")
    return endpoint.stats.num_errors, endpoint.stats.last_error


async def test_cancel_reaches_the_running_handler(
    server_nc: NATS,
    nc: NATS,
    echo_service: ModuleType,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
) -> None:
    async with wiretap(server_nc.connected_url.geturl(), CANCEL_SUBJECT) as notices:
        impl, server = await serve(server_nc, echo_service)
        call = echo_natsrpc.EchoClient(nc, timeout=60).echo(echo_pb2.EchoRequest(sleep_ms=60_000))
        waiting = asyncio.ensure_future(call)
        await eventually(lambda: impl.active == 1)
        assert call.cancel() is True
        with pytest.raises(natsrpc.RpcError) as info:
            await waiting
        assert info.value.code is S.CANCELLED
        await eventually(lambda: impl.cancelled == 1 and impl.active == 0)
        assert errors_of(server) == (1, "CANCELLED: the caller cancelled the call")
        await eventually(lambda: len(notices) == 1)
        # The notice names the call by its reply subject; nothing else travels.
        assert notices[0].data.decode().startswith(nc._inbox_prefix.decode())
        assert notices[0].headers is None
    await server.stop()


async def test_a_cancelled_task_cancels_the_call(
    server_nc: NATS,
    nc: NATS,
    echo_service: ModuleType,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
) -> None:
    impl, server = await serve(server_nc, echo_service)
    client = echo_natsrpc.EchoClient(nc, timeout=60)
    task = asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(sleep_ms=60_000)))
    await eventually(lambda: impl.active == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: impl.cancelled == 1 and impl.active == 0)
    # The server goes on serving: the runner that was cancelled is not lost.
    reply = await client.echo(echo_pb2.EchoRequest(text="after"))
    assert reply.text == "after"
    await server.stop()


async def test_a_queued_call_is_dropped_before_it_runs(
    server_nc: NATS,
    nc: NATS,
    echo_service: ModuleType,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
) -> None:
    impl, server = await serve(server_nc, echo_service, max_concurrency=1)
    client = echo_natsrpc.EchoClient(nc, timeout=60)
    first = asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(text="first", sleep_ms=500)))
    await eventually(lambda: impl.active == 1)
    queued = client.echo(echo_pb2.EchoRequest(text="queued"))
    waiting = asyncio.ensure_future(queued)
    endpoint = next(e for e in server.services[0].endpoints if e.name == "Echo")
    await eventually(lambda: endpoint.stats.pending == 1)
    queued.cancel()
    with pytest.raises(natsrpc.RpcError) as info:
        await waiting
    assert info.value.code is S.CANCELLED
    assert (await first).text == "first"
    await eventually(lambda: errors_of(server) == (1, "CANCELLED: the caller cancelled the call"))
    # Only the first call's handler ever ran.
    assert impl.peak_active == 1 and impl.cancelled == 0
    assert endpoint.stats.num_requests == 2
    await server.stop()


async def test_only_the_instance_serving_the_call_acts(
    nats_server: NatsServer,
    nc: NATS,
    echo_service: ModuleType,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
) -> None:
    connections = [await nats.connect(nats_server.url) for _ in range(2)]
    served = [await serve(connection, echo_service) for connection in connections]
    client = echo_natsrpc.EchoClient(nc, timeout=60)
    slow = client.echo(echo_pb2.EchoRequest(sleep_ms=60_000))
    waiting = asyncio.ensure_future(slow)
    await eventually(lambda: sum(impl.active for impl, _ in served) == 1)
    idle_impl, idle_server = next((i, s) for i, s in served if i.active == 0)
    slow.cancel()
    with pytest.raises(natsrpc.RpcError):
        await waiting
    await eventually(lambda: sum(impl.cancelled for impl, _ in served) == 1)
    assert idle_impl.cancelled == 0
    assert errors_of(idle_server) == (0, "")
    for _, server in served:
        await server.stop()
    for connection in connections:
        await connection.close()


@pytest.mark.parametrize("payload", [b"", b"x" * 2000, b"\xff\xfe not utf-8", b"_INBOX.nobody.1"])
async def test_bad_or_unknown_notices_change_nothing(
    server_nc: NATS,
    nc: NATS,
    echo_service: ModuleType,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
    payload: bytes,
) -> None:
    impl, server = await serve(server_nc, echo_service)
    client = echo_natsrpc.EchoClient(nc, timeout=60)
    running = asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(text="kept", sleep_ms=200)))
    await eventually(lambda: impl.active == 1)
    await nc.publish(CANCEL_SUBJECT, payload)
    await nc.flush()
    assert (await running).text == "kept"
    assert impl.cancelled == 0 and errors_of(server) == (0, "")
    await server.stop()


async def test_a_call_that_timed_out_sends_no_notice(
    served: Any, nats_server: NatsServer, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    async with wiretap(nats_server.url, CANCEL_SUBJECT) as seen:
        with pytest.raises(natsrpc.RpcError) as info:
            await echo_natsrpc.EchoClient(nc, timeout=0.2).echo(
                echo_pb2.EchoRequest(sleep_ms=5_000)
            )
        assert info.value.code is S.DEADLINE_EXCEEDED
        # The server keeps its own clock (§5); a notice would be redundant.
        await eventually(lambda: served.echo.cancelled == 1)
        await nc.flush()
    assert seen == []
