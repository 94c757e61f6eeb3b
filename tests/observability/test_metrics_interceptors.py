"""The metrics interceptors passed to one server and one client (no ``enable``), and
interceptors that leave unary calls alone."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

import natsrpc
from natsrpc import telemetry
from natsrpc.client.interceptors import CallDetails, ClientInterceptor, UnaryInvoker
from natsrpc.metrics import ClientMetricsInterceptor, ServerMetricsInterceptor

S = natsrpc.StatusCode


def duration_counts(reader: InMemoryMetricReader, name: str) -> dict[str, int]:
    """Calls counted by ``name``'s histogram, by status code."""
    data = reader.get_metrics_data()
    assert data is not None
    counts: dict[str, int] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    assert isinstance(point, HistogramDataPoint)
                    code = str((point.attributes or {})["rpc.response.status_code"])
                    counts[code] = counts.get(code, 0) + point.count
    return counts


async def test_interceptors_given_to_one_server_and_client_record_their_calls(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    assert telemetry.unary_served is None  # metrics are not enabled for the process
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    server = natsrpc.Server(nc, interceptors=[ServerMetricsInterceptor(provider)])
    server.add_service(echo_service.EchoService())
    async with server:
        client = echo_natsrpc.EchoClient(nc, interceptors=[ClientMetricsInterceptor(provider)])
        await client.echo(echo_pb2.EchoRequest(text="a"))
        await client.echo(echo_pb2.EchoRequest(text="b"))
        with pytest.raises(natsrpc.RpcError):
            await client.echo(echo_pb2.EchoRequest(fail_code=S.NOT_FOUND.value))
    assert duration_counts(reader, "rpc.server.call.duration") == {"OK": 2, "NOT_FOUND": 1}
    assert duration_counts(reader, "rpc.client.call.duration") == {"OK": 2, "NOT_FOUND": 1}


class Watching(ClientInterceptor):
    """Notes each call it sees; with ``unary_calls`` False, streams only."""

    def __init__(self, unary_calls: bool) -> None:
        self.unary_calls = unary_calls
        self.seen: list[str] = []

    async def intercept_unary(
        self, request: Any, details: CallDetails, call_next: UnaryInvoker
    ) -> Any:
        self.seen.append(details.method.name)
        return await call_next(request, details)

    async def intercept_stream(self, details: CallDetails, call_next: Any) -> None:
        self.seen.append(details.method.name)
        await call_next(details)


async def test_an_interceptor_may_leave_unary_calls_out_of_its_chain(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    every, streams_only = Watching(unary_calls=True), Watching(unary_calls=False)
    server = natsrpc.Server(nc)
    server.add_service(streamer_service)
    async with server:
        client = stream_natsrpc.StreamerClient(nc, interceptors=[every, streams_only])
        await client.ping(stream_pb2.Item(index=1))
        assert [item.index async for item in client.produce(stream_pb2.ProduceRequest(count=2))]
    assert every.seen == ["Ping", "Produce"]
    assert streams_only.seen == ["Produce"]
