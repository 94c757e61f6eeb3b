"""The discovery client: finding every instance of a service and reading its stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc import discovery
from natsrpc.testing import NatsServer


@pytest.fixture
async def three(nats_server: NatsServer, echo_service: Any) -> AsyncIterator[list[natsrpc.Server]]:
    """Three instances of the Echo service, each on its own connection."""
    connections = [await nats.connect(nats_server.url) for _ in range(3)]
    servers = []
    for index, connection in enumerate(connections):
        server = natsrpc.Server(connection)
        server.add_service(echo_service.EchoService(f"s{index}"))
        await server.start()
        servers.append(server)
    try:
        yield servers
    finally:
        for server in servers:
            await server.stop()
        for connection in connections:
            await connection.close()


def _ids(servers: list[natsrpc.Server]) -> set[str]:
    return {s.services[0].id for s in servers}


async def test_ping_finds_every_instance(
    three: list[natsrpc.Server], nc: NATS, echo_natsrpc: Any
) -> None:
    # Stops on silence, not on a known count.
    found = await discovery.ping(nc, "natsrpc_test-Echo", timeout=10)
    assert len(found) == 3
    assert {p.id for p in found} == _ids(three)
    assert {p.name for p in found} == {"natsrpc_test-Echo"}
    assert {p.version for p in found} == {"0.0.0"}
    # The same through a ServiceSpec and through generated classes.
    spec = echo_natsrpc.Echo._natsrpc_service
    assert {p.id for p in await discovery.ping(nc, spec, timeout=10)} == _ids(three)
    assert {p.id for p in await discovery.ping(nc, echo_natsrpc.EchoClient, expected=3)} == _ids(
        three
    )


async def test_ping_one_instance_by_id(three: list[natsrpc.Server], nc: NATS) -> None:
    wanted = three[1].services[0].id
    found = await discovery.ping(nc, "natsrpc_test-Echo", id=wanted, timeout=10)
    assert [p.id for p in found] == [wanted]


async def test_expected_count_ends_the_wait_early(three: list[natsrpc.Server], nc: NATS) -> None:
    found = await discovery.ping(nc, "natsrpc_test-Echo", expected=2, timeout=10, quiet=10)
    assert len(found) == 2


async def test_nobody_serving_returns_at_once(nc: NATS) -> None:
    # The no-responders status ends the wait: with 30 s limits, it would otherwise hang here.
    ping = discovery.ping(nc, "nobody-here", timeout=30, quiet=30)
    assert await asyncio.wait_for(ping, timeout=10) == []


async def test_info_describes_endpoints(three: list[natsrpc.Server], nc: NATS) -> None:
    found = await discovery.info(nc, "natsrpc_test-Echo", expected=3, timeout=10)
    assert {i.id for i in found} == _ids(three)
    for instance in found:
        assert [e.name for e in instance.endpoints] == ["Echo", "Peek"]
        echo_endpoint = instance.endpoint("Echo")
        assert echo_endpoint.subject == "natsrpc_test.Echo.Echo"
        assert echo_endpoint.queue_group == "q"
        assert echo_endpoint.metadata["rpc.method"] == "/natsrpc_test.Echo/Echo"
        assert echo_endpoint.metadata["rpc.kind"] == "unary"
        with pytest.raises(KeyError):
            instance.endpoint("Nope")


async def test_stats_reflect_calls_on_each_instance(
    three: list[natsrpc.Server], nc: NATS, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    client = echo_natsrpc.EchoClient(nc, timeout=10)
    for _ in range(30):
        await client.echo(echo_pb2.EchoRequest(text="x"))
    with pytest.raises(natsrpc.RpcError):
        await client.peek(echo_pb2.EchoRequest(fail_code=5, fail_message="missing"))

    found = await discovery.stats(nc, "natsrpc_test-Echo", expected=3, timeout=10)
    assert {s.id for s in found} == _ids(three)
    assert sum(s.endpoint("Echo").num_requests for s in found) == 30
    peeks = [s.endpoint("Peek") for s in found]
    assert sum(p.num_requests for p in peeks) == 1
    assert sum(p.num_errors for p in peeks) == 1
    assert [p.last_error for p in peeks if p.num_errors] == ["NOT_FOUND: missing"]
    for instance in found:
        endpoint = instance.endpoint("Echo")
        # Each instance's own counters, as its Server object holds them.
        local = next(s for s in three if s.services[0].id == instance.id)
        assert endpoint.num_requests == local.services[0].endpoints[0].stats.num_requests
        assert endpoint.in_flight == 0
        assert endpoint.pending == 0
        assert endpoint.shed == 0
        if endpoint.num_requests:
            assert endpoint.processing_time_ns > 0
            assert endpoint.average_processing_time_ns == (
                endpoint.processing_time_ns // endpoint.num_requests
            )
        assert instance.started is not None
        assert instance.started <= datetime.now(timezone.utc)


async def test_stats_show_calls_in_flight_and_queued(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    release = asyncio.Event()

    class Blocking(echo_natsrpc.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            await release.wait()
            return echo_pb2.EchoReply(text=request.text)

    server = natsrpc.Server(nc, max_concurrency=2, max_pending=2)
    server.add_service(Blocking())
    async with server:
        client = echo_natsrpc.EchoClient(nc, timeout=30)
        calls = [asyncio.ensure_future(client.echo(echo_pb2.EchoRequest())) for _ in range(5)]
        # Wait until all five arrived: two run, two wait, one was shed.
        counters = server.services[0].endpoints[0].stats
        await eventually(
            lambda: counters.in_flight + counters.pending + counters.shed == 5,
            within=20,
            what="the five calls",
        )
        found = await discovery.stats(nc, "natsrpc_test-Echo", expected=1, timeout=10)
        release.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
    [instance] = found
    endpoint = instance.endpoint("Echo")
    assert (endpoint.in_flight, endpoint.pending, endpoint.shed) == (2, 2, 1)
    assert dict(endpoint.data) == {"in_flight": 2, "pending": 2, "shed": 1}
    assert sum(isinstance(r, natsrpc.RpcError) for r in results) == 1


async def test_all_services_without_a_name(three: list[natsrpc.Server], nc: NATS) -> None:
    # Another ADR-32 service on the same NATS, answering discovery only.
    other = natsrpc.MicroService("other-Thing", "1.2.3", "", {"team": "ops"}, endpoints=[])
    subs = await other.subscribe_discovery(nc)
    await nc.flush()
    # Each server also serves its reflection and health services (docs/protocol.md §10, §12).
    found = await discovery.ping(nc, timeout=10, expected=10)
    by_name = {p.name for p in found}
    assert by_name == {
        "natsrpc_test-Echo",
        "grpc-reflection-v1-ServerReflection",
        "grpc-health-v1-Health",
        "other-Thing",
    }
    [thing] = [p for p in found if p.name == "other-Thing"]
    assert thing.version == "1.2.3"
    assert dict(thing.metadata) == {"team": "ops"}
    for sub in subs:
        await sub.unsubscribe()


async def test_foreign_and_broken_replies(nc: NATS) -> None:
    """A minimal ADR-32 service written by hand parses; junk replies are skipped."""
    answers = iter(
        [
            b"not json",
            b'{"type": "io.nats.micro.v1.stats_response", "name": "hand", "id": "h1", '
            b'"version": "1.0.0", "started": "2024-05-01T10:00:00.123456789Z", '
            b'"endpoints": [{"name": "e", "subject": "hand.e", "num_requests": 4, '
            b'"num_errors": 0, "last_error": "", "processing_time": 40, '
            b'"average_processing_time": 10}]}',
            b'{"type": "io.nats.micro.v1.ping_response", "name": "wrong", "id": "x"}',
        ]
    )

    async def respond(msg: Any) -> None:
        await nc.publish(msg.reply, next(answers))

    subs = [await nc.subscribe("$SRV.STATS.hand", cb=respond) for _ in range(3)]
    found = await discovery.stats(nc, "hand", timeout=10, quiet=0.5)
    for sub in subs:
        await sub.unsubscribe()
    [hand] = found
    assert hand.id == "h1"
    assert hand.started == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    endpoint = hand.endpoint("e")
    assert endpoint.num_requests == 4
    assert endpoint.average_processing_time_ns == 10
    assert endpoint.in_flight is None
    assert endpoint.queue_group == ""


def test_subjects() -> None:
    assert discovery.discovery_subject("PING") == "$SRV.PING"
    assert discovery.discovery_subject("INFO", "a-b") == "$SRV.INFO.a-b"
    assert discovery.discovery_subject("STATS", "a-b", "id1") == "$SRV.STATS.a-b.id1"
    with pytest.raises(ValueError):
        discovery.discovery_subject("PING", None, "id1")
    with pytest.raises(TypeError):
        discovery.service_name(42)  # type: ignore[arg-type]
