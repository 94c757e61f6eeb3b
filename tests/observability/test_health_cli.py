"""`natsrpc health`: each exit status, against real servers."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import eventually
from nats.aio.client import Client as NATS
from test_jetstream import cli

import natsrpc
from natsrpc.testing import NatsServer


async def test_health_exit_statuses(
    nats_server: NatsServer, nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    await server.start()
    try:
        assert await cli(nats_server, "health", "natsrpc_test.Echo") == (
            0,
            "natsrpc_test.Echo: SERVING\n",
            "",
        )
        assert await cli(nats_server, "health") == (0, "server: SERVING\n", "")
        assert await cli(nats_server, "health", "nobody.Serves", "--timeout", "1") == (
            1,
            "",
            "error: no running server serves nobody.Serves\n",
        )
        call = asyncio.ensure_future(
            echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(sleep_ms=60_000))
        )
        await eventually(lambda: impl.active == 1)
        stopping = asyncio.ensure_future(server.stop(grace_period=60))
        code, out, _ = await cli(nats_server, "health", "natsrpc_test.Echo", "--timeout", "0.5")
        assert (code, out) == (3, "natsrpc_test.Echo: NOT_SERVING\n")
        assert not stopping.done()
        call.cancel()
        await stopping
    finally:
        await server.stop()


async def test_health_without_any_server_exits_4() -> None:
    with NatsServer() as lonely:
        assert await cli(lonely, "health", "--timeout", "0.5") == (
            4,
            "",
            "error: no server answered within 0.5 s\n",
        )
