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
async def stream_server(nc: NATS, streamer_service: Any) -> AsyncIterator[natsrpc.Server]:
    server = natsrpc.Server(nc, heartbeat=HEARTBEAT)
    server.add_service(streamer_service)
    async with server:
        yield server


@pytest.fixture
def stream_client(nc: NATS, stream_natsrpc: Any) -> Any:
    return stream_natsrpc.StreamerClient(nc, timeout=10, heartbeat=HEARTBEAT)
