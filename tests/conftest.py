"""Fixtures: stubs generated from tests/protos by the real plugin, and a real nats-server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from plugin_helpers import PROTOS, run_protoc

from natsrpc.testing import NatsServer


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/protos/natsrpc_test generated into a temporary directory on sys.path."""
    out = tmp_path_factory.mktemp("generated")
    protos = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "natsrpc_test").glob("*.proto"))
    result = run_protoc(PROTOS, protos, out)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def echo(generated: Path) -> Any:
    """The module tests/echo_service.py, which needs the generated stubs to import."""
    import echo_service

    return echo_service


@pytest.fixture
def pb(generated: Path) -> Any:
    from natsrpc_test import echo_pb2

    return echo_pb2


@pytest.fixture
def stubs(generated: Path) -> Any:
    from natsrpc_test import echo_natsrpc

    return echo_natsrpc


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(nats_server.url)
    try:
        yield connection
    finally:
        await connection.close()
