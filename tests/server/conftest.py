"""Fixtures for the unary tests: the echo service served on a real nats-server, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

import natsrpc


@pytest.fixture
async def served_echo(nc: NATS, echo_service: Any) -> AsyncIterator[Any]:
    impl = echo_service.EchoService("only")
    server = natsrpc.Server(nc)
    server.add_service(impl)
    async with server:
        yield impl


@pytest.fixture
def echo_client(nc: NATS, echo_natsrpc: Any) -> Any:
    return echo_natsrpc.EchoClient(nc, timeout=5)
