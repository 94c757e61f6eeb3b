"""grpc.health.v1 over NATS: Check and Watch per service and for the server, through a stop."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.health import subjects
from natsrpc.health.client import HealthChecker
from natsrpc.health.v1 import health_natsrpc
from natsrpc.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

SERVING = HealthCheckResponse.SERVING
NOT_SERVING = HealthCheckResponse.NOT_SERVING
ECHO = "natsrpc_test.Echo"


def watch(nc: NATS, group: str, service: str) -> Any:
    """A Watch call on the health subjects of subject group ``group``."""
    method = dataclasses.replace(
        health_natsrpc.HEALTH_WATCH,
        subject=subjects.watch_subject(subjects.health_group(group)),
    )
    client = health_natsrpc.HealthClient(nc)
    return client._unary_stream(method, HealthCheckRequest(service=service), None, None)


async def test_check_answers_per_service_and_for_the_server(
    nc: NATS, echo_service: Any, streamer_service: Any
) -> None:
    server = natsrpc.Server(nc)
    server.add_service(echo_service.EchoService())
    server.add_service(streamer_service, subject_prefix="p.")
    checker = HealthChecker(nc)
    async with server:
        assert await checker.check(ECHO) == SERVING
        assert await checker.check("") == SERVING
        assert await HealthChecker(nc, "p.").check("natsrpc_test.Streamer") == SERVING
        assert await HealthChecker(nc, "p.").check("") == SERVING
        with pytest.raises(natsrpc.RpcError) as unknown:
            await checker.check("nobody.Serves")
        assert unknown.value.code is natsrpc.StatusCode.NOT_FOUND
        assert unknown.value.message == "no running server serves nobody.Serves"
        # Asked on a served service's subjects about another: that server does not serve it.
        method = dataclasses.replace(
            health_natsrpc.HEALTH_CHECK,
            subject=subjects.check_subject(subjects.health_group(ECHO)),
        )
        call = health_natsrpc.HealthClient(nc)._unary_unary(
            method, HealthCheckRequest(service="other.Service"), 5.0, None
        )
        with pytest.raises(natsrpc.RpcError) as not_here:
            await call
        assert not_here.value.code is natsrpc.StatusCode.NOT_FOUND
        assert not_here.value.message == "this server does not serve other.Service"
    with pytest.raises(natsrpc.RpcError) as stopped:
        await checker.check("")
    assert stopped.value.code is natsrpc.StatusCode.UNAVAILABLE


async def test_check_and_watch_see_not_serving_from_the_start_of_stop(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    await server.start()
    checker = HealthChecker(nc)
    watched = watch(nc, ECHO, ECHO)
    unknown = watch(nc, ECHO, "other.Service")
    seen: list[int] = []

    async def follow() -> None:
        async for response in watched:
            seen.append(response.status)

    following = asyncio.ensure_future(follow())
    assert (await unknown.read()).status == HealthCheckResponse.SERVICE_UNKNOWN
    await eventually(lambda: seen == [SERVING])
    call = asyncio.ensure_future(
        echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(sleep_ms=60_000))
    )
    await eventually(lambda: impl.active == 1)
    stopping = asyncio.ensure_future(server.stop(grace_period=60))
    await eventually(lambda: seen == [SERVING, NOT_SERVING])
    # The call in hand keeps the stop going; health still answers meanwhile.
    assert await checker.check(ECHO) == NOT_SERVING
    assert await checker.check("") == NOT_SERVING
    assert not stopping.done()
    call.cancel()
    await stopping
    await asyncio.wait_for(following, 10)
    assert seen == [SERVING, NOT_SERVING]
    assert await watched.code() is natsrpc.StatusCode.OK
