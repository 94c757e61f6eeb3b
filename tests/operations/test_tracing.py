"""OpenTelemetry tracing interceptors (natsrpc.otel): spans, their links and statuses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace import StatusCode as SpanStatus

import natsrpc
from natsrpc.otel import ClientTracingInterceptor, ServerTracingInterceptor

S = natsrpc.StatusCode


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    # A provider of the test's own: the global one can be set only once per process.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def chain_of(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    """The spans ordered root first, each the parent of the next; fails if they branch."""
    by_parent = {span.parent.span_id if span.parent else None: span for span in spans}
    assert len(by_parent) == len(spans), "two spans share a parent"
    ordered = [by_parent[None]]
    while ordered[-1].context.span_id in by_parent:
        ordered.append(by_parent[ordered[-1].context.span_id])
    assert len(ordered) == len(spans), "the spans do not form one chain"
    return ordered


@pytest.fixture
async def hops(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, provider: TracerProvider
) -> AsyncIterator[Any]:
    """Services A -> B -> C (three Echo services under the prefixes a., b. and c.)."""

    class Hop(echo_natsrpc.Echo):  # type: ignore[misc]
        def __init__(self, next_hop: Any) -> None:
            self.next_hop = next_hop

        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            if self.next_hop is not None:
                return await self.next_hop.echo(request, timeout=context.time_remaining())
            if request.fail_code:
                context.abort(S(request.fail_code), request.fail_message)
            return echo_pb2.EchoReply(text=request.text)

    def client(prefix: str) -> Any:
        return echo_natsrpc.EchoClient(
            nc,
            subject_prefix=prefix,
            interceptors=[ClientTracingInterceptor(tracer_provider=provider)],
        )

    server = natsrpc.Server(nc, interceptors=[ServerTracingInterceptor(tracer_provider=provider)])
    server.add_service(Hop(None), subject_prefix="c.")
    server.add_service(Hop(client("c.")), subject_prefix="b.")
    server.add_service(Hop(client("b.")), subject_prefix="a.")
    async with server:
        yield client("a.")


async def test_one_trace_spans_client_to_nested_servers(
    hops: Any, echo_pb2: Any, exporter: InMemorySpanExporter
) -> None:
    assert (await hops.echo(echo_pb2.EchoRequest(text="deep"))).text == "deep"
    spans = exporter.get_finished_spans()
    assert len(spans) == 6
    assert len({span.context.trace_id for span in spans}) == 1
    ordered = chain_of(spans)
    assert [span.kind for span in ordered] == [SpanKind.CLIENT, SpanKind.SERVER] * 3
    for span in ordered:
        assert span.name == "natsrpc_test.Echo/Echo"
        assert span.attributes == {
            "rpc.system": "natsrpc",
            "rpc.service": "natsrpc_test.Echo",
            "rpc.method": "Echo",
            "rpc.natsrpc.status_code": 0,
        }
        assert span.status.status_code is SpanStatus.UNSET


async def test_a_failure_is_recorded_on_every_span(
    hops: Any, echo_pb2: Any, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(natsrpc.RpcError) as info:
        await hops.echo(
            echo_pb2.EchoRequest(fail_code=int(S.INTERNAL), fail_message="disk on fire")
        )
    assert info.value.code is S.INTERNAL
    spans = exporter.get_finished_spans()
    assert len(spans) == 6
    for span in chain_of(spans):
        assert span.attributes is not None
        assert span.attributes["rpc.natsrpc.status_code"] == int(S.INTERNAL)
        assert span.status.status_code is SpanStatus.ERROR
        assert span.status.description == "INTERNAL: disk on fire"


async def test_caller_errors_leave_server_spans_unset(
    hops: Any, echo_pb2: Any, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(natsrpc.RpcError):
        await hops.echo(echo_pb2.EchoRequest(fail_code=int(S.INVALID_ARGUMENT)))
    spans = chain_of(exporter.get_finished_spans())
    # The conventions: a client span fails on any error; a server span only on
    # statuses that mean the server failed.
    statuses = [(span.kind, span.status.status_code) for span in spans]
    assert (
        statuses
        == [
            (SpanKind.CLIENT, SpanStatus.ERROR),
            (SpanKind.SERVER, SpanStatus.UNSET),
        ]
        * 3
    )


async def test_unexpected_exception_is_recorded_on_the_server_span(
    nc: NATS,
    echo_service: Any,
    echo_natsrpc: Any,
    echo_pb2: Any,
    provider: TracerProvider,
    exporter: Any,
) -> None:
    server = natsrpc.Server(nc, interceptors=[ServerTracingInterceptor(tracer_provider=provider)])
    server.add_service(echo_service.EchoService())
    async with server:
        with pytest.raises(natsrpc.RpcError):
            await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(crash="kaboom"))
    (span,) = exporter.get_finished_spans()
    assert span.parent is None  # the caller sent no trace context
    assert span.status.status_code is SpanStatus.ERROR
    assert span.attributes["rpc.natsrpc.status_code"] == int(S.INTERNAL)
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "kaboom"


async def test_streaming_calls_are_traced(
    nc: NATS, generated: Any, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    import stream_service
    from natsrpc_test import stream_natsrpc, stream_pb2

    server = natsrpc.Server(nc, interceptors=[ServerTracingInterceptor(tracer_provider=provider)])
    server.add_service(stream_service.StreamerService())
    client = stream_natsrpc.StreamerClient(
        nc, interceptors=[ClientTracingInterceptor(tracer_provider=provider)]
    )
    async with server:
        items = [i async for i in client.produce(stream_pb2.ProduceRequest(count=3))]
        assert len(items) == 3
        await eventually(lambda: len(exporter.get_finished_spans()) == 2)
        client_span, server_span = chain_of(exporter.get_finished_spans())
        assert (client_span.kind, server_span.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
        assert server_span.name == "natsrpc_test.Streamer/Produce"
        assert server_span.status.status_code is SpanStatus.UNSET

        exporter.clear()
        request = stream_pb2.ProduceRequest(count=3, fail_after=1, fail_code=int(S.DATA_LOSS))
        with pytest.raises(natsrpc.RpcError):
            [i async for i in client.produce(request)]
        await eventually(lambda: len(exporter.get_finished_spans()) == 2)
    for span in chain_of(exporter.get_finished_spans()):
        assert span.status.status_code is SpanStatus.ERROR
        assert span.attributes is not None
        assert span.attributes["rpc.natsrpc.status_code"] == int(S.DATA_LOSS)


def test_importing_natsrpc_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, natsrpc, natsrpc.client, natsrpc.server; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


async def test_error_details_and_binary_metadata_pass_through_the_interceptors(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any, provider: TracerProvider
) -> None:
    server = natsrpc.Server(nc, interceptors=[ServerTracingInterceptor(tracer_provider=provider)])
    server.add_service(echo_service.EchoService())
    async with server:
        client = echo_natsrpc.EchoClient(
            nc, interceptors=[ClientTracingInterceptor(tracer_provider=provider)]
        )
        with pytest.raises(natsrpc.RpcError) as info:
            await client.echo(
                echo_pb2.EchoRequest(text="details", fail_code=int(S.ABORTED), fail_message="no"),
                metadata={"x-blob-bin": b"\x00\xff"},
            )
    assert (info.value.code, info.value.message) == (S.ABORTED, "no")
    assert info.value.detail(echo_pb2.EchoReply) == echo_pb2.EchoReply(text="detail")
