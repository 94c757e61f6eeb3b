"""Fixtures for the gateway's tests: the test services behind a running gateway.

Each module gets a nats-server of its own, so reflection finds only the
services its tests start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from helpers import Served
from nats.aio.client import Client as NATS

from natsrpc.testing import NatsServer

pytest.importorskip("uvicorn", reason="the gateway tests need the gateway extra (uvicorn)")
pytest.importorskip("grpc", reason="the gateway tests need the gateway extra (grpcio)")

from gateway_support import TEST_ORIGIN, Running

from natsrpc.gateway import CorsPolicy, Gateway, Limits


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as nats_server:
        yield nats_server


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(server.url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def limits() -> Limits:
    """The running gateway's limits; a test module may override this fixture."""
    return Limits(max_request_bytes=64 * 1024, max_concurrent_calls=64, default_timeout=5.0)


@pytest.fixture
async def running(served: Served, nc: NATS, limits: Limits) -> AsyncIterator[Running]:
    gateway = Gateway(nc, limits=limits, cors=CorsPolicy((TEST_ORIGIN,)), refresh_interval=60.0)
    async with gateway:
        http_port = await gateway.start_http()
        grpc_port = await gateway.start_grpc()
        yield Running(gateway, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", served)
