"""natsrpc over secured NATS: passwords and permissions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from security_support import Errors, open_connection

import natsrpc
from natsrpc import discovery
from natsrpc.testing import NatsServer

# --- users, passwords and permissions -------------------------------------------------

PERMISSIONS_CONFIG = """
authorization {
  users: [
    # A natsrpc service: takes requests for its methods and discovery, may only reply.
    {user: svc, password: svc-secret, permissions: {
      subscribe: ["natsrpc_test.Echo.*", "$SRV.>"]
      publish: {deny: ">"}
      allow_responses: true
    }}
    # The same, but it may not reply to anyone.
    {user: mute, password: mute-secret, permissions: {
      subscribe: ["natsrpc_test.Echo.*", "$SRV.>"]
      publish: {deny: ">"}
    }}
    # A client of the Echo method (not Peek), with discovery, getting replies on its inbox.
    {user: cli, password: cli-secret, permissions: {
      publish: ["natsrpc_test.Echo.Echo", "$SRV.>"]
      subscribe: ["_INBOX.>"]
    }}
    # A client that forgot the inbox.
    {user: deaf, password: deaf-secret, permissions: {
      publish: ["natsrpc_test.Echo.>"]
      subscribe: {deny: ">"}
    }}
  ]
}
"""


@pytest.fixture(scope="module")
def secured() -> Any:
    with NatsServer(config=PERMISSIONS_CONFIG) as server:
        yield server


Connect = Callable[..., Any]


@pytest.fixture
async def connect_as(secured: NatsServer) -> AsyncIterator[Connect]:
    opened: list[NATS] = []

    async def connect(user: str, password: str | None = None, **options: Any) -> NATS:
        nc = await open_connection(
            secured.url, user=user, password=password or f"{user}-secret", **options
        )
        opened.append(nc)
        return nc

    yield connect
    for nc in opened:
        await nc.close()


@pytest.fixture
async def svc(connect_as: Connect, echo_service: Any) -> AsyncIterator[natsrpc.Server]:
    server = natsrpc.Server(await connect_as("svc"))
    server.add_service(echo_service.EchoService("svc"))
    async with server:
        yield server


async def test_user_and_password(
    svc: natsrpc.Server, connect_as: Connect, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    client = echo_natsrpc.EchoClient(await connect_as("cli"), timeout=10)
    assert (await client.echo(echo_pb2.EchoRequest(text="ok"))).text == "ok"


async def test_wrong_password_is_refused(connect_as: Connect) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await connect_as("cli", "not-the-password")


async def test_denied_method_fails_at_once_with_permission_denied(
    svc: natsrpc.Server, connect_as: Connect, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    errors = Errors()
    client = echo_natsrpc.EchoClient(await connect_as("cli", error_cb=errors.callback), timeout=10)
    started = time.monotonic()
    with pytest.raises(natsrpc.RpcError) as info:
        await client.peek(echo_pb2.EchoRequest(text="no"))
    elapsed = time.monotonic() - started
    assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
    assert "natsrpc_test.Echo.Peek" in info.value.message
    # Well before the 10 s timeout: the server's error, not the deadline.
    assert elapsed < 5
    # The application's own error callback still hears about the violation.
    assert any("permissions violation" in t for t in errors.texts())
    # The connection goes on working for what is allowed, concurrently with denials.
    results = await asyncio.gather(
        *(client.echo(echo_pb2.EchoRequest(text=str(i))) for i in range(5)),
        *(client.peek(echo_pb2.EchoRequest()) for _ in range(5)),
        return_exceptions=True,
    )
    assert [r.text for r in results[:5]] == [str(i) for i in range(5)]
    assert all(
        isinstance(r, natsrpc.RpcError) and r.code is natsrpc.StatusCode.PERMISSION_DENIED
        for r in results[5:]
    )


async def test_denied_with_a_subject_prefix(
    connect_as: Connect, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    client = echo_natsrpc.EchoClient(await connect_as("cli"), subject_prefix="other.", timeout=10)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(echo_pb2.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
    assert "other.natsrpc_test.Echo.Echo" in info.value.message


async def test_client_without_inbox_permission_is_denied_at_once(
    svc: natsrpc.Server, connect_as: Connect, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    client = echo_natsrpc.EchoClient(await connect_as("deaf"), timeout=10)
    for _ in range(2):
        # The first call meets the refused subscription; later ones fail before sending.
        started = time.monotonic()
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(echo_pb2.EchoRequest())
        assert info.value.code is natsrpc.StatusCode.PERMISSION_DENIED
        assert "_INBOX" in info.value.message
        assert time.monotonic() - started < 5


async def test_service_that_may_not_reply_leaves_callers_to_time_out(
    connect_as: Connect, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    """Why a service user needs allow_responses (or publish on _INBOX.>)."""
    errors = Errors()
    server = natsrpc.Server(await connect_as("mute", error_cb=errors.callback))
    server.add_service(echo_service.EchoService("mute"))
    client = echo_natsrpc.EchoClient(await connect_as("cli"), timeout=1)
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(echo_pb2.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED
    assert any('permissions violation for publish to "_inbox.' in t for t in errors.texts())


async def test_discovery_with_permissions(svc: natsrpc.Server, connect_as: Connect) -> None:
    found = await discovery.ping(await connect_as("cli"), "natsrpc_test-Echo", expected=1)
    assert [p.id for p in found] == [svc.services[0].id]


async def test_error_callback_chain_survives_many_connections(
    svc: natsrpc.Server, connect_as: Connect, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    # Each connection is watched on its own; a denial on one fails nothing on another.
    first = echo_natsrpc.EchoClient(await connect_as("cli"), timeout=10)
    second = echo_natsrpc.EchoClient(await connect_as("cli"), timeout=10)
    slow = asyncio.ensure_future(second.echo(echo_pb2.EchoRequest(text="slow", sleep_ms=300)))
    with pytest.raises(natsrpc.RpcError):
        await first.peek(echo_pb2.EchoRequest())
    assert (await slow).text == "slow"
