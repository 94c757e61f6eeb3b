"""Core NATS event sets (fan-out, queue groups), trace continuity and $SRV discovery."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import natsrpc
from natsrpc.events import EventContext
from natsrpc.otel import ClientTracingInterceptor, ServerTracingInterceptor


def recorder(stubs: Any, name: str, seen: list[tuple[str, str]]) -> Any:
    class Recorder(stubs.PingEvents):  # type: ignore[misc]
        async def on_pinged(self, event: Any, context: EventContext) -> None:
            seen.append((name, event.id))

    return Recorder()


async def start(nc: NATS, impl: Any, **options: Any) -> natsrpc.Server:
    server = natsrpc.Server(nc)
    server.add_service(impl, **options)
    await server.start()
    return server


async def test_core_events_fan_out_to_every_instance(jnc: NATS, stubs: Any) -> None:
    seen: list[tuple[str, str]] = []
    servers = [await start(jnc, recorder(stubs, name, seen)) for name in ("a", "b")]
    publisher = stubs.PingEventsPublisher(jnc)
    for n in range(5):
        assert await publisher.pinged(stubs.Ping(id=str(n))) is None
    await eventually(lambda: len(seen) == 10)
    for server in servers:
        await server.stop()
    assert sorted(seen) == sorted((name, str(n)) for name in ("a", "b") for n in range(5))


async def test_core_events_reach_one_instance_per_group(jnc: NATS, stubs: Any) -> None:
    seen: list[tuple[str, str]] = []
    servers = [
        await start(jnc, recorder(stubs, group, seen), consumer=group)
        for group in ("audit", "audit", "mail")
    ]
    publisher = stubs.PingEventsPublisher(jnc)
    for n in range(20):
        await publisher.pinged(stubs.Ping(id=str(n)))
    await eventually(lambda: len(seen) == 40)
    await asyncio.sleep(0.2)  # nothing more arrives
    for server in servers:
        await server.stop()
    assert sorted(seen) == sorted((g, str(n)) for g in ("audit", "mail") for n in range(20))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.mark.parametrize("stored", [True, False], ids=["jetstream", "core"])
async def test_trace_continues_from_publisher_to_handler(
    jnc: NATS, stubs: Any, exporter: InMemorySpanExporter, provider: TracerProvider, stored: bool
) -> None:
    traceparents: list[str] = []
    if stored:
        events = stubs.ORDERS

        class Handlers(events.Handlers):  # type: ignore[name-defined,misc]
            async def on_placed(self, event: Any, context: EventContext) -> None:
                traceparents.append(context.metadata["traceparent"])

        publisher = events.Publisher(jnc, interceptors=[ClientTracingInterceptor(provider)])
        publish = publisher.placed(stubs.OrderPlaced(order_id="o1"))
        options: dict[str, Any] = {"consumer": "tracer"}
    else:

        class Handlers(stubs.PingEvents):  # type: ignore[no-redef,misc]
            async def on_pinged(self, event: Any, context: EventContext) -> None:
                traceparents.append(context.metadata["traceparent"])

        publisher = stubs.PingEventsPublisher(
            jnc, interceptors=[ClientTracingInterceptor(provider)]
        )
        publish = publisher.pinged(stubs.Ping(id="1"))
        options = {}
    server = natsrpc.Server(jnc, interceptors=[ServerTracingInterceptor(provider)])
    server.add_service(Handlers(), **options)
    await server.start()
    await publish
    await eventually(lambda: len(exporter.get_finished_spans()) == 2)
    await server.stop()
    producer, consumer = sorted(
        exporter.get_finished_spans(), key=lambda s: s.kind is SpanKind.SERVER
    )
    assert (producer.kind, consumer.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert len(traceparents) == 1


async def test_event_handlers_answer_discovery_with_counters(jnc: NATS, stubs: Any) -> None:
    class Points(stubs.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            if event.note == "fail":
                raise natsrpc.Reject("bad order")

    server = await start(jnc, Points(), consumer="points")
    publisher = stubs.ORDERS.Publisher(jnc)
    await publisher.placed(stubs.OrderPlaced(order_id="o1"))
    await publisher.placed(stubs.OrderPlaced(order_id="o2", note="fail"))

    async def counted() -> bool:
        [stats] = await natsrpc.discovery.stats(jnc, "evtest-OrderEvents", expected=1)
        return stats.endpoint("Placed").num_requests == 2

    await eventually(counted)
    [info] = await natsrpc.discovery.info(jnc, "evtest-OrderEvents", expected=1)
    [stats] = await natsrpc.discovery.stats(jnc, "evtest-OrderEvents", expected=1)
    await server.stop()
    [endpoint] = info.endpoints
    assert (endpoint.name, endpoint.subject, endpoint.queue_group) == (
        "Placed",
        "evtest.orders.*.placed",
        "points",
    )
    assert endpoint.metadata["rpc.kind"] == "event"
    assert endpoint.metadata["rpc.stream"] == "ORDERS"
    assert stats.endpoint("Placed").num_errors == 1
    assert stats.endpoint("Placed").last_error == "bad order"


async def test_rpc_only_options_are_refused_for_event_handlers(jnc: NATS, stubs: Any) -> None:
    server = natsrpc.Server(jnc)
    handlers = recorder(stubs, "a", [])
    with pytest.raises(TypeError, match="unexpected keyword argument 'queue_group'"):
        server.add_service(handlers, queue_group="workers")
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_pending'"):
        server.add_service(handlers, max_pending=10)
