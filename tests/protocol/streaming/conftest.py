"""Fixtures for the streaming tests (docs/protocol.md §9): the Streamer service of
tests/stream_service.py and its generated modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from stream_support import HEARTBEAT

import natsrpc


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
