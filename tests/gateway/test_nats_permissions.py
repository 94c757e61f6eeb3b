"""A gateway whose NATS user has exactly ``natsrpc permissions --gateway``'s output.

Through it: discovery by reflection, unary and streaming calls, a cancel notice.
And what it may not do: call a service it was not given; serve a service's
subjects; list every service.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import httpx
import nats
import pytest
from gateway_support import COMMAND, envelope, envelopes
from grpc import aio
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.gateway import Gateway, ServiceFilter
from natsrpc.testing import NatsServer

TESTS = Path(__file__).resolve().parent.parent
SCHEMA = (
    "--proto", "natsrpc_test/echo.proto", "--proto", "natsrpc_test/stream.proto",
    "-I", str(TESTS / "protos"),
)  # fmt: skip
STREAM_JSON = {"content-type": "application/connect+json"}


def permissions(generated: Path, user: str, *roles: str) -> str:
    """The user's entry in nats-server's configuration, as the CLI prints it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(generated), str(TESTS)])}
    result = subprocess.run(
        [*COMMAND, "permissions", "--user", user, *roles],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return f"{{ user: {user}, password: pw, {result.stdout} }}"


@pytest.fixture(scope="module")
def secured(generated: Path) -> Any:
    """A nats-server whose users are a server of both test services, a gateway exposing
    every service of the schema (a pattern), and one exposing only the Streamer."""
    users = [
        permissions(generated, "srv", "--serve", "natsrpc_test.Echo",
                    "--serve", "natsrpc_test.Streamer", *SCHEMA),
        permissions(generated, "gw", "--gateway", "*", *SCHEMA),
        permissions(generated, "narrow", "--gateway", "natsrpc_test.stream_natsrpc:Streamer"),
    ]  # fmt: skip
    config = "authorization { users = [\n" + ",\n".join(users) + "\n] }\n"
    with NatsServer(config=config) as server:
        yield server


ErrorCallback = Callable[[Exception], Awaitable[None]]
Connect = Callable[..., Awaitable[NATS]]


@pytest.fixture
async def connect(secured: NatsServer) -> AsyncIterator[Connect]:
    """Connections as the users, each with its own inbox prefix; closed after the test."""
    opened: list[NATS] = []

    async def as_user(user: str, error_cb: ErrorCallback | None = None) -> NATS:
        options: dict[str, Any] = {"error_cb": error_cb} if error_cb else {}
        nc = await nats.connect(
            secured.url, user=user, password="pw", inbox_prefix=f"_INBOX.{user}", **options
        )
        opened.append(nc)
        return nc

    yield as_user
    for nc in opened:
        await nc.close()


@pytest.fixture
async def services(
    connect: Connect, echo_service: ModuleType, streamer_service: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """Both test services, served as the user ``srv``."""
    echo = echo_service.EchoService()
    server = natsrpc.Server(await connect("srv"))
    server.add_service(echo)
    server.add_service(streamer_service)
    async with server:
        yield echo, streamer_service


async def test_the_gateway_discovers_calls_streams_and_cancels(
    connect: Connect, services: tuple[Any, Any], stream_pb2: ModuleType
) -> None:
    echo, _ = services
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    async with Gateway(await connect("gw", on_error), refresh_interval=60.0) as gateway:
        assert gateway.directory.services() == ["natsrpc_test.Echo", "natsrpc_test.Streamer"]
        url = f"http://127.0.0.1:{await gateway.start_http()}"
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
            ping = await http.post("/natsrpc_test.Streamer/Ping", json={"index": 3})
            assert ping.json() == {"index": 3, "text": "pong"}
            produced = await http.post(
                "/natsrpc_test.Streamer/Produce",
                content=envelope(json.dumps({"count": 2}).encode()),
                headers=STREAM_JSON,
            )
            frames = envelopes(produced.content)
            assert [flags for flags, _ in frames] == [0, 0, 2]
            assert [json.loads(data).get("index", 0) for _, data in frames[:2]] == [0, 1]
            # A caller that goes away: the gateway's cancel notice reaches the service.
            slow = asyncio.ensure_future(
                http.post("/natsrpc_test.Echo/Echo", json={"sleepMs": 10000})
            )
            await eventually(lambda: echo.active == 1)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            await eventually(lambda: echo.cancelled == 1)

        # gRPC's bidirectional stream: the gateway's frames go to the service's inbox.
        async with aio.insecure_channel(f"127.0.0.1:{await gateway.start_grpc()}") as channel:
            chat = channel.stream_stream(
                "/natsrpc_test.Streamer/Chat",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=stream_pb2.Item.FromString,
            )
            call = chat()
            for index in range(2):
                await call.write(stream_pb2.Item(index=index, text=f"m{index}"))
                assert (await call.read()).text == f"m{index}"
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK
    assert errors == []  # not one permission violation on the way


async def test_a_narrow_gateway_is_refused_everything_else(
    connect: Connect,
    services: tuple[Any, Any],
) -> None:
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    nc = await connect("narrow", on_error)
    async with Gateway(nc, refresh_interval=60.0) as gateway:
        # One server serves both, and its reflection describes Echo too: the gateway
        # lists Echo, and NATS refuses its calls.
        assert gateway.directory.services() == ["natsrpc_test.Echo", "natsrpc_test.Streamer"]
        url = f"http://127.0.0.1:{await gateway.start_http()}"
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
            ping = await http.post("/natsrpc_test.Streamer/Ping", json={"index": 1})
            denied = await http.post("/natsrpc_test.Echo/Echo", json={"text": "no"})
    assert ping.json() == {"index": 1, "text": "pong"}
    assert denied.status_code == 403
    assert denied.json() == {
        "code": "permission_denied",
        "message": "this NATS connection's user may not publish to 'natsrpc_test.Echo.Echo' "
        "(permissions violation)",
    }
    # Its --allow, the same names, keeps the list to what it may call.
    only = ServiceFilter(allow=("natsrpc_test.Streamer",))
    async with Gateway(nc, service_filter=only, refresh_interval=60.0) as gateway:
        assert gateway.directory.services() == ["natsrpc_test.Streamer"]

    # Nor may it take requests off a service, or list every running service.
    errors.clear()
    await nc.subscribe("natsrpc_test.Streamer.Ping")
    await nc.publish("$SRV.INFO", b"")
    await eventually(lambda: len(errors) >= 2, what="two permission violations")
    assert errors == [
        'nats: permissions violation for subscription to "natsrpc_test.streamer.ping"',
        'nats: permissions violation for publish to "$srv.info"',
    ]
