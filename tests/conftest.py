"""Fixtures: stubs generated from tests/protos by the real plugin, and a real nats-server.

``nats_server`` and ``nats_client`` come from natsrpc's own pytest plugin
(natsrpc/pytest_plugin.py), the one users get; these tests use it as they would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import Served
from nats.aio.client import Client as NATS
from plugin_helpers import PROTOS, run_protoc

import natsrpc

TEST_LOOP = os.environ.get("NATSRPC_TEST_LOOP", "asyncio")
"""The event loop async tests run on: ``asyncio``, or ``uvloop`` (CI runs some suites on both)."""


if TEST_LOOP == "uvloop":

    @pytest.hookimpl(optionalhook=True)
    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> dict[str, Callable[[], Any]]:
        import uvloop

        return {"uvloop": uvloop.new_event_loop}

elif TEST_LOOP != "asyncio":
    raise pytest.UsageError(f"NATSRPC_TEST_LOOP must be asyncio or uvloop, not {TEST_LOOP!r}")


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
def echo_service(generated: Path) -> ModuleType:
    """The module tests/echo_service.py, which needs the generated stubs to import."""
    import echo_service

    return echo_service


@pytest.fixture
def echo_pb2(generated: Path) -> ModuleType:
    from natsrpc_test import echo_pb2

    return echo_pb2


@pytest.fixture
def echo_natsrpc(generated: Path) -> ModuleType:
    from natsrpc_test import echo_natsrpc

    return echo_natsrpc


@pytest.fixture
def stream_pb2(generated: Path) -> ModuleType:
    """The stream test service's messages (tests/protos/natsrpc_test/stream.proto)."""
    from natsrpc_test import stream_pb2

    return stream_pb2


@pytest.fixture
def stream_natsrpc(generated: Path) -> ModuleType:
    from natsrpc_test import stream_natsrpc

    return stream_natsrpc


@pytest.fixture
def streamer_service(generated: Path) -> Any:
    """A fresh instance of tests/stream_service.py's StreamerService."""
    import stream_service

    return stream_service.StreamerService()


@pytest.fixture
async def served(
    nc: NATS, echo_service: ModuleType, streamer_service: Any
) -> AsyncIterator[Served]:
    """The echo and the stream test services, served on ``nc`` for one test."""
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    server.add_service(streamer_service)
    async with server:
        yield Served(impl, streamer_service)


@pytest.fixture
def nc(nats_client: NATS) -> NATS:
    """The connection most tests use, under a short name."""
    return nats_client
