"""Fixtures for metrics, probes and health: a JetStream nats-server, the event test
messages, and the probes of ``natsrpc.metrics`` on a free port."""

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

from natsrpc.metrics import Probes, open_probes
from natsrpc.testing import NatsServer

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(scope="session")
def evtest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/events/evtest/*.proto compiled by protoc and the plugin, as tests/events does,
    with tests/events on sys.path for its ``event_sets``."""
    out = tmp_path_factory.mktemp("evtest")
    protos = sorted(str(p.relative_to(EVENTS)) for p in (EVENTS / "evtest").glob("*.proto"))
    result = run_protoc(EVENTS, protos, out, includes=[OPTIONS_INCLUDE])
    assert result.returncode == 0, result.stderr
    sys.path[:0] = [str(out), str(EVENTS)]
    try:
        yield out
    finally:
        sys.path.remove(str(out))
        sys.path.remove(str(EVENTS))


@pytest.fixture
def events(evtest: Path) -> Any:
    """tests/events/event_sets.py: the plugin's stubs of the event test sets."""
    import event_sets

    return event_sets


@pytest.fixture
def js_server() -> Iterator[NatsServer]:
    with (
        tempfile.TemporaryDirectory(prefix="natsrpc-js-") as store,
        NatsServer(args=("-js", "-sd", store)) as server,
    ):
        yield server


@pytest.fixture
async def jnc(js_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(js_server.url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def probes() -> Iterator[Probes]:
    """Metrics on for this test, served with the probes on a free port of 127.0.0.1."""
    opened = open_probes("127.0.0.1", 0)
    try:
        yield opened
    finally:
        opened.close()
