"""Serving unary calls: subject prefixes, concurrency limits, foreign services, graceful stop,
queue groups and ADR-32 discovery, against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.testing import NatsServer


async def test_subject_prefix_namespaces_client_and_server(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    server = natsrpc.Server(nc)
    server.add_service(echo_service.EchoService("prod"), subject_prefix="prod.")
    async with server:
        prefixed = echo_natsrpc.EchoClient(nc, subject_prefix="prod.")
        assert (await prefixed.echo(echo_pb2.EchoRequest(text="p"))).server == "prod"
        with pytest.raises(natsrpc.RpcError) as info:
            await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest())
        assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
        endpoints = server.services[0].info().endpoints
        assert endpoints[0].subject == "prod.natsrpc_test.Echo.Echo"


async def test_a_servers_subject_prefix_is_every_services_default(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    server = natsrpc.Server(nc, subject_prefix="prod.")
    server.add_service(echo_service.EchoService("prod"))
    server.add_service(echo_service.EchoService("staging"), subject_prefix="staging.")
    async with server:
        assert (
            await echo_natsrpc.EchoClient(nc, subject_prefix="prod.").echo(echo_pb2.EchoRequest())
        ).server == "prod"
        staging = echo_natsrpc.EchoClient(nc, subject_prefix="staging.")
        assert (await staging.echo(echo_pb2.EchoRequest())).server == "staging"
        subjects = [service.info().endpoints[0].subject for service in server.services]
        assert subjects[:2] == ["prod.natsrpc_test.Echo.Echo", "staging.natsrpc_test.Echo.Echo"]


async def test_concurrent_calls_overlap(served_echo: Any, echo_client: Any, echo_pb2: Any) -> None:
    replies = await asyncio.gather(
        *(echo_client.echo(echo_pb2.EchoRequest(text=str(i), sleep_ms=300)) for i in range(20))
    )
    assert [r.text for r in replies] == [str(i) for i in range(20)]
    assert served_echo.peak_active == 20


async def test_past_the_limits_requests_are_shed(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc, max_concurrency=2, max_pending=3)
    server.add_service(impl)
    async with server:
        client = echo_natsrpc.EchoClient(nc)
        results = await asyncio.gather(
            *(client.echo(echo_pb2.EchoRequest(sleep_ms=300)) for _ in range(10)),
            return_exceptions=True,
        )
        stats = server.services[0].stats().endpoints[0]
    shed = [r for r in results if isinstance(r, natsrpc.RpcError)]
    assert len(shed) == 5
    assert all(r.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED for r in shed)
    assert impl.peak_active == 2
    assert stats.shed == 5
    assert stats.num_requests == 10
    assert stats.num_errors == 5


async def test_foreign_micro_error_codes_map_like_grpc(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    codes = iter(["404", "503", "500", "bogus", "9"])

    async def foreign(msg: Any) -> None:
        await nc.publish(
            msg.reply,
            b"",
            headers={"Nats-Service-Error": "nope", "Nats-Service-Error-Code": next(codes)},
        )

    sub = await nc.subscribe("natsrpc_test.Echo.Echo", cb=foreign)
    client = echo_natsrpc.EchoClient(nc)
    seen = []
    for _ in range(5):
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(echo_pb2.EchoRequest())
        seen.append(info.value.code)
    await sub.unsubscribe()
    S = natsrpc.StatusCode
    assert seen == [S.UNIMPLEMENTED, S.UNAVAILABLE, S.UNKNOWN, S.UNKNOWN, S.FAILED_PRECONDITION]


async def test_in_flight_calls_finish_during_graceful_stop(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    await server.start()
    client = echo_natsrpc.EchoClient(nc)
    calls = [
        asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(text=str(i), sleep_ms=300)))
        for i in range(10)
    ]
    await eventually(lambda: impl.active == 10, what="ten handlers running")
    await server.stop()
    replies = await asyncio.gather(*calls)
    assert [r.text for r in replies] == [str(i) for i in range(10)]
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(echo_pb2.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE


async def test_handlers_past_the_grace_period_are_cancelled(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    await server.start()
    call = asyncio.ensure_future(
        echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(sleep_ms=10_000))
    )
    await eventually(lambda: impl.active == 1, what="the handler running")
    await server.stop(grace_period=0.1)
    with pytest.raises(natsrpc.RpcError) as info:
        await call
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    assert impl.cancelled == 1


async def test_queue_group_shares_load_and_graceful_stop_loses_nothing(
    nats_server: NatsServer, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    connections = [await nats.connect(nats_server.url) for _ in range(3)]
    server_a_nc, server_b_nc, client_nc = connections
    server_a = natsrpc.Server(server_a_nc)
    server_a.add_service(echo_service.EchoService("a"))
    server_b = natsrpc.Server(server_b_nc)
    server_b.add_service(echo_service.EchoService("b"))
    await server_a.start()
    await server_b.start()
    client = echo_natsrpc.EchoClient(client_nc, timeout=10)
    answered_by: list[str] = []
    failures: list[BaseException] = []
    stop_load = asyncio.Event()

    async def load() -> None:
        while not stop_load.is_set():
            try:
                reply = await client.echo(echo_pb2.EchoRequest(sleep_ms=20))
                answered_by.append(reply.server)
            except natsrpc.RpcError as error:
                failures.append(error)

    workers = [asyncio.ensure_future(load()) for _ in range(16)]
    await eventually(lambda: {"a", "b"} <= set(answered_by), what="both serving")
    before_stop = len(answered_by)
    await server_a.stop()
    after_a_stopped = len(answered_by)
    # Past the calls in flight at the stop, b answers alone for a while.
    await eventually(lambda: len(answered_by) > after_a_stopped + 16 + 20)
    stop_load.set()
    await asyncio.gather(*workers)
    await server_b.stop()
    for connection in connections:
        await connection.close()
    assert failures == []
    assert len(answered_by) > after_a_stopped >= before_stop
    assert set(answered_by[after_a_stopped + 16 :]) == {"b"}


async def test_discovery_follows_adr32(
    served_echo: Any, nc: NATS, echo_client: Any, echo_pb2: Any
) -> None:
    await echo_client.echo(echo_pb2.EchoRequest())
    with pytest.raises(natsrpc.RpcError):
        await echo_client.echo(echo_pb2.EchoRequest(fail_code=3, fail_message="bad"))

    ping = json.loads((await nc.request("$SRV.PING.natsrpc_test-Echo", b"")).data)
    assert ping["type"] == "io.nats.micro.v1.ping_response"
    assert ping["name"] == "natsrpc_test-Echo"
    assert ping["version"] == "0.0.0"

    info = json.loads((await nc.request(f"$SRV.INFO.natsrpc_test-Echo.{ping['id']}", b"")).data)
    assert info["type"] == "io.nats.micro.v1.info_response"
    assert info["description"].startswith("A service whose behaviour")
    endpoints = {e["name"]: e for e in info["endpoints"]}
    assert set(endpoints) == {"Echo", "Peek"}
    assert endpoints["Echo"]["subject"] == "natsrpc_test.Echo.Echo"
    assert endpoints["Echo"]["queue_group"] == "q"
    # The schema fingerprint (docs/protocol.md, Reflection) is checked in tests/cli.
    assert len(endpoints["Echo"]["metadata"].pop("rpc.schema")) == 32
    assert endpoints["Echo"]["metadata"] == {
        "rpc.method": "/natsrpc_test.Echo/Echo",
        "rpc.request_type": "natsrpc_test.EchoRequest",
        "rpc.response_type": "natsrpc_test.EchoReply",
        "rpc.kind": "unary",
    }

    stats = json.loads((await nc.request("$SRV.STATS.natsrpc_test-Echo", b"")).data)
    assert stats["type"] == "io.nats.micro.v1.stats_response"
    echo_stats = {e["name"]: e for e in stats["endpoints"]}["Echo"]
    assert echo_stats["num_requests"] == 2
    assert echo_stats["num_errors"] == 1
    assert echo_stats["last_error"] == "INVALID_ARGUMENT: bad"
    assert echo_stats["processing_time"] > 0
    assert echo_stats["average_processing_time"] == echo_stats["processing_time"] // 2


async def test_nats_micro_client_reads_our_discovery(served_echo: Any, nc: NATS) -> None:
    # The stats layout must parse with nats.py's own ADR-32 types.
    from nats.micro.service import ServiceInfo, ServiceStats

    # By name: the server's reflection service answers the bare subjects too.
    info_reply = await nc.request("$SRV.INFO.natsrpc_test-Echo", b"")
    stats_reply = await nc.request("$SRV.STATS.natsrpc_test-Echo", b"")
    info = ServiceInfo.from_dict(json.loads(info_reply.data))
    stats = ServiceStats.from_dict(json.loads(stats_reply.data))
    assert info.name == stats.name == "natsrpc_test-Echo"
    assert [e.name for e in info.endpoints] == ["Echo", "Peek"]


async def test_queued_requests_are_answered_when_the_grace_period_ends(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    server = natsrpc.Server(nc, max_concurrency=1)
    server.add_service(echo_service.EchoService())
    await server.start()
    client = echo_natsrpc.EchoClient(nc)
    calls = [
        asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(sleep_ms=10_000))) for _ in range(3)
    ]
    await eventually(lambda: server.services[0].stats().endpoints[0].pending == 2)
    await server.stop(grace_period=0.1)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    codes = sorted(o.code.name for o in outcomes if isinstance(o, natsrpc.RpcError))
    assert codes == ["CANCELLED", "UNAVAILABLE", "UNAVAILABLE"]
    stats = server.services[0].stats().endpoints[0]
    assert stats.num_requests == 3
    assert stats.num_errors == 3
    assert stats.pending == 0


async def test_requests_over_the_service_limit_are_refused_unparsed(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc, max_message_bytes=100)
    server.add_service(impl)
    async with server:
        client = echo_natsrpc.EchoClient(nc)
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(echo_pb2.EchoRequest(blob=b"x" * 200))
        assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 100 bytes" in info.value.message
        # Garbage over the limit is refused by its size, before any parsing.
        raw = await nc.request("natsrpc_test.Echo.Echo", b"\xff" * 200)
        assert raw.headers is not None
        assert raw.headers["Nats-Service-Error-Code"] == "8"
        assert impl.peak_active == 0
        assert (await client.echo(echo_pb2.EchoRequest(text="small"))).text == "small"
