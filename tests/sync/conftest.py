"""Fixtures for the sync client tests: services served from a loop thread, a sync connection.

The tests themselves are plain synchronous functions, as the code they stand for
is; the services run on an event loop in a thread of their own, with their own
NATS connection, so the client's loop can be blocked without stopping them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import nats
import pytest
from sync_support import HEARTBEAT, LoopThread, Served

import natsrpc
import natsrpc.sync
from natsrpc.testing import NatsServer


@pytest.fixture
def served(generated: Any, nats_server: NatsServer) -> Iterator[Served]:
    """EchoService and StreamerService, served under the prefixes "" and "alt."."""
    import echo_service
    import stream_service

    loop = LoopThread()

    async def start() -> tuple[Any, natsrpc.Server, natsrpc.Server, Served]:
        nc = await nats.connect(nats_server.url)
        served = Served(echo_service.EchoService("sync"), stream_service.StreamerService(), loop)
        server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
        server.add_service(served.echo)
        server.add_service(served.streamer)
        prefixed = natsrpc.Server(nc, heartbeat=HEARTBEAT)
        prefixed.add_service(served.echo, subject_prefix="alt.")
        await server.start()
        await prefixed.start()
        return nc, server, prefixed, served

    nc, server, prefixed, services = loop.run(start())
    try:
        yield services
    finally:

        async def stop() -> None:
            # Calls a test abandoned need not finish: their handlers are cancelled.
            await server.stop(grace_period=0.5)
            await prefixed.stop(grace_period=0.5)
            await nc.close()

        loop.run(stop(), 30)
        loop.close()


@pytest.fixture
def connection(nats_server: NatsServer) -> Iterator[natsrpc.sync.Connection]:
    with natsrpc.sync.connect(nats_server.url) as connection:
        yield connection


@pytest.fixture
def echo_client(generated: Any, connection: natsrpc.sync.Connection) -> Any:
    from natsrpc_test import echo_natsrpc

    return echo_natsrpc.EchoSyncClient(connection, timeout=5)


@pytest.fixture
def stream_client(generated: Any, connection: natsrpc.sync.Connection) -> Any:
    from natsrpc_test import stream_natsrpc

    return stream_natsrpc.StreamerSyncClient(connection, timeout=10, heartbeat=HEARTBEAT)
