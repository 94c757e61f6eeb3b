"""Unary calls end to end against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.testing import NatsServer


@pytest.fixture
async def service(nc: NATS, echo: Any) -> AsyncIterator[Any]:
    impl = echo.EchoService("only")
    server = natsrpc.Server(nc)
    server.add_service(impl)
    async with server:
        yield impl


@pytest.fixture
def client(nc: NATS, stubs: Any) -> Any:
    return stubs.EchoClient(nc, timeout=5)


async def test_call_returns_the_reply(service: Any, client: Any, pb: Any) -> None:
    reply = await client.echo(pb.EchoRequest(text="hello"))
    assert reply.text == "hello"
    assert reply.server == "only"


async def test_subject_is_package_service_method(service: Any, nc: NATS, pb: Any) -> None:
    raw = await nc.request("natsrpc_test.Echo.Echo", pb.EchoRequest(text="raw").SerializeToString())
    assert pb.EchoReply.FromString(raw.data).text == "raw"


async def test_metadata_reaches_the_handler(service: Any, client: Any, pb: Any) -> None:
    reply = await client.echo(
        pb.EchoRequest(echo_metadata=True), metadata=[("x-user", "ada"), ("Trace-Id", "t1")]
    )
    assert dict(reply.metadata) == {"x-user": "ada", "trace-id": "t1"}


async def test_trailing_metadata_reaches_the_caller(service: Any, client: Any, pb: Any) -> None:
    call = client.echo(pb.EchoRequest(text="t", trailers={"x-served-by": "a"}))
    assert not call.done()
    reply = await call
    assert call.done()
    assert await call.code() is natsrpc.StatusCode.OK
    assert reply.text == "t"
    assert await call.trailing_metadata() == {"x-served-by": "a"}
    # Awaiting again gives the same outcome without a second request.
    assert await call is reply


async def test_trailers_travel_with_errors(service: Any, client: Any, pb: Any) -> None:
    request = pb.EchoRequest(fail_code=5, fail_message="no such user", trailers={"x-why": "gone"})
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(request)
    assert info.value.code is natsrpc.StatusCode.NOT_FOUND
    assert info.value.message == "no such user"
    assert info.value.metadata == {"x-why": "gone"}


@pytest.mark.parametrize("code", [c for c in natsrpc.StatusCode if c is not natsrpc.StatusCode.OK])
async def test_every_status_code_round_trips(
    service: Any, client: Any, pb: Any, code: natsrpc.StatusCode
) -> None:
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(pb.EchoRequest(fail_code=int(code), fail_message=f"m{int(code)}"))
    assert info.value.code is code
    assert info.value.message == f"m{int(code)}"


async def test_error_headers_follow_adr32(service: Any, nc: NATS, pb: Any) -> None:
    request = pb.EchoRequest(fail_code=7, fail_message="go away")
    raw = await nc.request("natsrpc_test.Echo.Echo", request.SerializeToString())
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error"] == "go away"
    assert raw.headers["Nats-Service-Error-Code"] == "7"
    assert raw.data == b""


async def test_unhandled_exception_is_internal_and_hides_details(
    service: Any, client: Any, pb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="natsrpc.server"),
        pytest.raises(natsrpc.RpcError) as info,
    ):
        await client.echo(pb.EchoRequest(crash="password=hunter2"))
    assert info.value.code is natsrpc.StatusCode.INTERNAL
    assert "hunter2" not in str(info.value)
    assert "RuntimeError" not in str(info.value)
    assert any("hunter2" in r.getMessage() or r.exc_info for r in caplog.records)
    # The service goes on serving.
    assert (await client.echo(pb.EchoRequest(text="after"))).text == "after"


async def test_unimplemented_method(nc: NATS, stubs: Any, pb: Any) -> None:
    class OnlyEcho(stubs.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            return pb.EchoReply(text="x")

    server = natsrpc.Server(nc)
    server.add_service(OnlyEcho())
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await stubs.EchoClient(nc).peek(pb.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.UNIMPLEMENTED
    assert "/natsrpc_test.Echo/Peek" in info.value.message


async def test_no_responders_is_unavailable_at_once(client: Any, pb: Any) -> None:
    started = time.monotonic()
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(pb.EchoRequest(), timeout=30)
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
    # Far below the 30 s timeout: the server's no-responders status, not a timeout.
    assert time.monotonic() - started < 10


async def test_client_timeout_is_deadline_exceeded(service: Any, client: Any, pb: Any) -> None:
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(pb.EchoRequest(sleep_ms=3000), timeout=0.2)
    assert info.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED


async def test_deadline_propagates_to_the_handler(service: Any, client: Any, pb: Any) -> None:
    reply = await client.echo(pb.EchoRequest(), timeout=2.0)
    assert 0 < reply.time_remaining <= 2.0


async def test_server_cancels_the_handler_at_the_deadline(
    service: Any, client: Any, pb: Any
) -> None:
    with pytest.raises(natsrpc.RpcError):
        await client.echo(pb.EchoRequest(sleep_ms=5000), timeout=0.2)
    for _ in range(100):
        if service.cancelled:
            break
        await asyncio.sleep(0.02)
    assert service.cancelled == 1
    assert service.active == 0


async def test_server_answers_deadline_exceeded_to_a_patient_caller(
    service: Any, nc: NATS, pb: Any
) -> None:
    # A foreign caller that sends a short deadline but waits longer sees the status.
    raw = await nc.request(
        "natsrpc_test.Echo.Echo",
        pb.EchoRequest(sleep_ms=5000).SerializeToString(),
        timeout=5,
        headers={"Rpc-Timeout-Ms": "100"},
    )
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == str(int(natsrpc.StatusCode.DEADLINE_EXCEEDED))


async def test_plain_json_request(service: Any, nc: NATS) -> None:
    raw = await nc.request(
        "natsrpc_test.Echo.Echo",
        json.dumps({"text": "from json", "trailers": {"k": "v"}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert raw.headers is not None
    assert raw.headers["Content-Type"] == "application/json"
    assert raw.headers["k"] == "v"
    body = json.loads(raw.data)
    assert body["text"] == "from json"
    assert body["server"] == "only"


async def test_bad_json_is_invalid_argument(service: Any, nc: NATS) -> None:
    raw = await nc.request(
        "natsrpc_test.Echo.Echo", b'{"nope": 1}', headers={"Content-Type": "application/json"}
    )
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "3"


async def test_unknown_content_type_is_invalid_argument(service: Any, nc: NATS) -> None:
    raw = await nc.request("natsrpc_test.Echo.Echo", b"x", headers={"Content-Type": "text/xml"})
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "3"
    assert "text/xml" in raw.headers["Nats-Service-Error"]


async def test_bad_payload_is_invalid_argument_and_service_goes_on(
    service: Any, nc: NATS, client: Any, pb: Any
) -> None:
    raw = await nc.request("natsrpc_test.Echo.Echo", b"\xff\xff\xff not protobuf")
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "3"
    assert "natsrpc_test.EchoRequest" in raw.headers["Nats-Service-Error"]
    assert (await client.echo(pb.EchoRequest(text="still here"))).text == "still here"


async def test_request_over_max_payload_is_a_clear_client_error(
    service: Any, nc: NATS, client: Any, pb: Any
) -> None:
    too_big = b"x" * (nc.max_payload + 1)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(pb.EchoRequest(blob=too_big))
    assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_payload" in info.value.message


async def test_large_payload_round_trips(service: Any, nc: NATS, client: Any, pb: Any) -> None:
    blob = bytes(range(256)) * ((nc.max_payload // 2) // 256)
    reply = await client.echo(pb.EchoRequest(blob=blob))
    assert reply.blob == blob


async def test_wrong_request_type_is_a_type_error(service: Any, client: Any, pb: Any) -> None:
    with pytest.raises(TypeError, match="EchoRequest"):
        await client.echo(pb.EchoReply())


@pytest.mark.parametrize("key", ["Nats-Service-Error", "rpc-timeout-ms", "content-type", "bad key"])
async def test_reserved_or_invalid_metadata_keys_are_refused(
    client: Any, pb: Any, key: str
) -> None:
    with pytest.raises(ValueError):
        await client.echo(pb.EchoRequest(), metadata={key: "v"})


async def test_subject_prefix_namespaces_client_and_server(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc)
    server.add_service(echo.EchoService("prod"), subject_prefix="prod.")
    async with server:
        prefixed = stubs.EchoClient(nc, subject_prefix="prod.")
        assert (await prefixed.echo(pb.EchoRequest(text="p"))).server == "prod"
        with pytest.raises(natsrpc.RpcError) as info:
            await stubs.EchoClient(nc).echo(pb.EchoRequest())
        assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
        endpoints = server.services[0].info().endpoints
        assert endpoints[0].subject == "prod.natsrpc_test.Echo.Echo"


async def test_a_servers_subject_prefix_is_every_services_default(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc, subject_prefix="prod.")
    server.add_service(echo.EchoService("prod"))
    server.add_service(echo.EchoService("staging"), subject_prefix="staging.")
    async with server:
        assert (
            await stubs.EchoClient(nc, subject_prefix="prod.").echo(pb.EchoRequest())
        ).server == "prod"
        staging = stubs.EchoClient(nc, subject_prefix="staging.")
        assert (await staging.echo(pb.EchoRequest())).server == "staging"
        subjects = [service.info().endpoints[0].subject for service in server.services]
        assert subjects[:2] == ["prod.natsrpc_test.Echo.Echo", "staging.natsrpc_test.Echo.Echo"]


async def test_concurrent_calls_overlap(service: Any, client: Any, pb: Any) -> None:
    replies = await asyncio.gather(
        *(client.echo(pb.EchoRequest(text=str(i), sleep_ms=300)) for i in range(20))
    )
    assert [r.text for r in replies] == [str(i) for i in range(20)]
    assert service.peak_active == 20


async def test_past_the_limits_requests_are_shed(nc: NATS, echo: Any, stubs: Any, pb: Any) -> None:
    impl = echo.EchoService()
    server = natsrpc.Server(nc, max_concurrency=2, max_pending=3)
    server.add_service(impl)
    async with server:
        client = stubs.EchoClient(nc)
        results = await asyncio.gather(
            *(client.echo(pb.EchoRequest(sleep_ms=300)) for _ in range(10)),
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


async def test_foreign_micro_error_codes_map_like_grpc(nc: NATS, stubs: Any, pb: Any) -> None:
    codes = iter(["404", "503", "500", "bogus", "9"])

    async def foreign(msg: Any) -> None:
        await nc.publish(
            msg.reply,
            b"",
            headers={"Nats-Service-Error": "nope", "Nats-Service-Error-Code": next(codes)},
        )

    sub = await nc.subscribe("natsrpc_test.Echo.Echo", cb=foreign)
    client = stubs.EchoClient(nc)
    seen = []
    for _ in range(5):
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(pb.EchoRequest())
        seen.append(info.value.code)
    await sub.unsubscribe()
    S = natsrpc.StatusCode
    assert seen == [S.UNIMPLEMENTED, S.UNAVAILABLE, S.UNKNOWN, S.UNKNOWN, S.FAILED_PRECONDITION]


async def test_in_flight_calls_finish_during_graceful_stop(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc)
    server.add_service(echo.EchoService())
    await server.start()
    client = stubs.EchoClient(nc)
    calls = [
        asyncio.ensure_future(client.echo(pb.EchoRequest(text=str(i), sleep_ms=300)))
        for i in range(10)
    ]
    await asyncio.sleep(0.1)
    await server.stop()
    replies = await asyncio.gather(*calls)
    assert [r.text for r in replies] == [str(i) for i in range(10)]
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(pb.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE


async def test_handlers_past_the_grace_period_are_cancelled(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    impl = echo.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    await server.start()
    call = asyncio.ensure_future(stubs.EchoClient(nc).echo(pb.EchoRequest(sleep_ms=10_000)))
    await asyncio.sleep(0.1)
    await server.stop(grace_period=0.1)
    with pytest.raises(natsrpc.RpcError) as info:
        await call
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    assert impl.cancelled == 1


async def test_queue_group_shares_load_and_graceful_stop_loses_nothing(
    nats_server: NatsServer, echo: Any, stubs: Any, pb: Any
) -> None:
    connections = [await nats.connect(nats_server.url) for _ in range(3)]
    server_a_nc, server_b_nc, client_nc = connections
    server_a = natsrpc.Server(server_a_nc)
    server_a.add_service(echo.EchoService("a"))
    server_b = natsrpc.Server(server_b_nc)
    server_b.add_service(echo.EchoService("b"))
    await server_a.start()
    await server_b.start()
    client = stubs.EchoClient(client_nc, timeout=10)
    answered_by: list[str] = []
    failures: list[BaseException] = []
    stop_load = asyncio.Event()

    async def load() -> None:
        while not stop_load.is_set():
            try:
                reply = await client.echo(pb.EchoRequest(sleep_ms=20))
                answered_by.append(reply.server)
            except natsrpc.RpcError as error:
                failures.append(error)

    workers = [asyncio.ensure_future(load()) for _ in range(16)]
    await asyncio.sleep(0.5)
    assert {"a", "b"} <= set(answered_by)
    before_stop = len(answered_by)
    await server_a.stop()
    after_a_stopped = len(answered_by)
    await asyncio.sleep(0.5)
    stop_load.set()
    await asyncio.gather(*workers)
    await server_b.stop()
    for connection in connections:
        await connection.close()
    assert failures == []
    assert len(answered_by) > after_a_stopped >= before_stop
    assert set(answered_by[after_a_stopped + 16 :]) == {"b"}


async def test_discovery_follows_adr32(service: Any, nc: NATS, client: Any, pb: Any) -> None:
    await client.echo(pb.EchoRequest())
    with pytest.raises(natsrpc.RpcError):
        await client.echo(pb.EchoRequest(fail_code=3, fail_message="bad"))

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


async def test_nats_micro_client_reads_our_discovery(service: Any, nc: NATS) -> None:
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
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    server = natsrpc.Server(nc, max_concurrency=1)
    server.add_service(echo.EchoService())
    await server.start()
    client = stubs.EchoClient(nc)
    calls = [asyncio.ensure_future(client.echo(pb.EchoRequest(sleep_ms=10_000))) for _ in range(3)]
    for _ in range(200):
        if server.services[0].stats().endpoints[0].pending == 2:
            break
        await asyncio.sleep(0.01)
    await server.stop(grace_period=0.1)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    codes = sorted(o.code.name for o in outcomes if isinstance(o, natsrpc.RpcError))
    assert codes == ["CANCELLED", "UNAVAILABLE", "UNAVAILABLE"]
    stats = server.services[0].stats().endpoints[0]
    assert stats.num_requests == 3
    assert stats.num_errors == 3
    assert stats.pending == 0


async def test_requests_over_the_service_limit_are_refused_unparsed(
    nc: NATS, echo: Any, stubs: Any, pb: Any
) -> None:
    impl = echo.EchoService()
    server = natsrpc.Server(nc, max_message_bytes=100)
    server.add_service(impl)
    async with server:
        client = stubs.EchoClient(nc)
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(pb.EchoRequest(blob=b"x" * 200))
        assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 100 bytes" in info.value.message
        # Garbage over the limit is refused by its size, before any parsing.
        raw = await nc.request("natsrpc_test.Echo.Echo", b"\xff" * 200)
        assert raw.headers is not None
        assert raw.headers["Nats-Service-Error-Code"] == "8"
        assert impl.peak_active == 0
        assert (await client.echo(pb.EchoRequest(text="small"))).text == "small"


async def test_a_handler_returning_the_wrong_type_is_internal(
    nc: NATS, stubs: Any, pb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Wrong(stubs.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            return pb.EchoRequest(text="not a reply")

    server = natsrpc.Server(nc)
    server.add_service(Wrong())
    with caplog.at_level(logging.ERROR, logger="natsrpc"):
        async with server:
            with pytest.raises(natsrpc.RpcError) as info:
                await stubs.EchoClient(nc).echo(pb.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.INTERNAL
    assert info.value.message == "internal error"
    assert any("EchoRequest, not EchoReply" in r.getMessage() for r in caplog.records)
