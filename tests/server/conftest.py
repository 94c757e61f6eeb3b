"""Fixtures for the unary tests: the echo service served on a real nats-server, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

import natsrpc


@pytest.fixture
async def service(nc: NATS, echo: Any) -> AsyncIterator[Any]:
    impl = echo.EchoService("only")
    server = natsrpc.Server(nc)
    server.add_service(impl)
    async with server:
        yield impl


@pytest.fixture
def client(nc: NATS, stubs: Any) -> Any:
    return stubs.EchoClient(nc, timeout=5)
