"""Fixtures for the event runtime tests: a JetStream nats-server with its own store per
test, and the event sets of tests/events/evtest/ compiled by protoc and the plugin."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from plugin_helpers import OPTIONS_INCLUDE, run_protoc

from natsrpc.testing import NatsServer

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def evtest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/events/evtest/*.proto compiled by protoc and protoc-gen-natsrpc into a
    directory on sys.path."""
    out = tmp_path_factory.mktemp("evtest")
    protos = sorted(str(p.relative_to(HERE)) for p in (HERE / "evtest").glob("*.proto"))
    result = run_protoc(HERE, protos, out, includes=[OPTIONS_INCLUDE])
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def event_sets(evtest: Path) -> Any:
    import event_sets

    return event_sets


@pytest.fixture
def store_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="natsrpc-js-") as directory:
        yield directory


@pytest.fixture
def js_server(store_dir: str) -> Iterator[NatsServer]:
    with NatsServer(args=("-js", "-sd", store_dir)) as server:
        yield server


@pytest.fixture
async def jnc(js_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(js_server.url)
    try:
        yield connection
    finally:
        await connection.close()
