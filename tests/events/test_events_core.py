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


def recorder(event_sets: Any, name: str, seen: list[tuple[str, str]]) -> Any:
    class Recorder(event_sets.PingEvents):  # type: ignore[misc]
        async def on_pinged(self, event: Any, context: EventContext) -> None:
            seen.append((name, event.id))

    return Recorder()


async def start(nc: NATS, impl: Any, **options: Any) -> natsrpc.Server:
    server = natsrpc.Server(nc)
    server.add_service(impl, **options)
    await server.start()
    return server


async def test_core_events_fan_out_to_every_instance(jnc: NATS, event_sets: Any) -> None:
    seen: list[tuple[str, str]] = []
    servers = [await start(jnc, recorder(event_sets, name, seen)) for name in ("a", "b")]
    publisher = event_sets.PingEventsPublisher(jnc)
    for n in range(5):
        assert await publisher.pinged(event_sets.Ping(id=str(n))) is None
    await eventually(lambda: len(seen) == 10)
    for server in servers:
        await server.stop()
    assert sorted(seen) == sorted((name, str(n)) for name in ("a", "b") for n in range(5))


async def test_core_events_reach_one_instance_per_group(jnc: NATS, event_sets: Any) -> None:
    seen: list[tuple[str, str]] = []
    servers = [
        await start(jnc, recorder(event_sets, group, seen), consumer=group)
        for group in ("audit", "audit", "mail")
    ]
    publisher = event_sets.PingEventsPublisher(jnc)
    for n in range(20):
        await publisher.pinged(event_sets.Ping(id=str(n)))
    # Core NATS keeps one publisher's order: once each group has the last event, a
    # second copy of any earlier one would have arrived before it.
    await publisher.pinged(event_sets.Ping(id="last"))
    await eventually(lambda: {("audit", "last"), ("mail", "last")} <= set(seen))
    for server in servers:
        await server.stop()
    expected = [(g, str(n)) for g in ("audit", "mail") for n in [*range(20), "last"]]
    assert sorted(seen) == sorted(expected)


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
    jnc: NATS,
    event_sets: Any,
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
    stored: bool,
) -> None:
    traceparents: list[str] = []
    if stored:
        events = event_sets.ORDERS

        class Handlers(events.Handlers):  # type: ignore[name-defined,misc]
            async def on_placed(self, event: Any, context: EventContext) -> None:
                traceparents.append(context.metadata["traceparent"])

        publisher = events.Publisher(jnc, interceptors=[ClientTracingInterceptor(provider)])
        publish = publisher.placed(event_sets.OrderPlaced(order_id="o1"))
        options: dict[str, Any] = {"consumer": "tracer"}
    else:

        class Handlers(event_sets.PingEvents):  # type: ignore[no-redef,misc]
            async def on_pinged(self, event: Any, context: EventContext) -> None:
                traceparents.append(context.metadata["traceparent"])

        publisher = event_sets.PingEventsPublisher(
            jnc, interceptors=[ClientTracingInterceptor(provider)]
        )
        publish = publisher.pinged(event_sets.Ping(id="1"))
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


async def test_event_handlers_answer_discovery_with_counters(jnc: NATS, event_sets: Any) -> None:
    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            if event.note == "fail":
                raise natsrpc.Reject("bad order")

    server = await start(jnc, Points(), consumer="points")
    publisher = event_sets.ORDERS.Publisher(jnc)
    await publisher.placed(event_sets.OrderPlaced(order_id="o1"))
    await publisher.placed(event_sets.OrderPlaced(order_id="o2", note="fail"))

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


async def test_rpc_only_options_are_refused_for_event_handlers(jnc: NATS, event_sets: Any) -> None:
    server = natsrpc.Server(jnc)
    handlers = recorder(event_sets, "a", [])
    with pytest.raises(TypeError, match="unexpected keyword argument 'queue_group'"):
        server.add_service(handlers, queue_group="workers")

    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            pass

    # A JetStream consumer pulls only what it has room for: nothing waits to be dropped.
    with pytest.raises(TypeError, match="max_pending does not apply"):
        server.add_service(Points(), max_pending=10)


async def test_core_events_beyond_the_bounds_are_dropped_and_counted(
    jnc: NATS, event_sets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()
    seen: list[str] = []
    running: list[int] = []

    class Slow(event_sets.PingEvents):  # type: ignore[misc]
        async def on_pinged(self, event: Any, context: EventContext) -> None:
            running.append(len(running) - len(seen) + 1)
            await release.wait()
            seen.append(event.id)

    server = await start(jnc, Slow(), max_concurrency=2, max_pending=3)
    publisher = event_sets.PingEventsPublisher(jnc)
    for n in range(8):
        await publisher.pinged(event_sets.Ping(id=str(n)))

    async def counted() -> Any:
        [stats] = await natsrpc.discovery.stats(jnc, "evtest-PingEvents", expected=1)
        endpoint = stats.endpoint("Pinged")
        return endpoint if endpoint.shed == 3 else None

    await eventually(counted)
    endpoint = await counted()
    assert (endpoint.in_flight, endpoint.pending) == (2, 3)
    assert endpoint.num_errors == 3
    assert endpoint.last_error.startswith("dropped")
    assert any("core NATS events dropped" in r.getMessage() for r in caplog.records)
    release.set()
    await eventually(lambda: len(seen) == 5)
    await server.stop()
    # At most two at a time; the first five to arrive are the ones handled.
    assert max(running) == 2
    assert sorted(seen) == ["0", "1", "2", "3", "4"]


async def test_core_stop_lets_events_in_hand_finish_and_cancels_them_after_the_grace_period(
    jnc: NATS, event_sets: Any
) -> None:
    release = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []
    cancelled: list[str] = []

    class Slow(event_sets.PingEvents):  # type: ignore[misc]
        async def on_pinged(self, event: Any, context: EventContext) -> None:
            started.append(event.id)
            try:
                if event.id == "stuck":
                    await asyncio.Event().wait()
                await release.wait()
            except asyncio.CancelledError:
                cancelled.append(event.id)
                raise
            finished.append(event.id)

    server = await start(jnc, Slow())
    publisher = event_sets.PingEventsPublisher(jnc)
    for name in ("a", "stuck", "b"):
        await publisher.pinged(event_sets.Ping(id=name))
    await eventually(lambda: len(started) == 3)
    stopping = asyncio.ensure_future(server.stop(grace_period=1.0))
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert sorted(finished) == ["a", "b"]
    assert cancelled == ["stuck"]


async def test_core_events_waiting_are_bounded_in_bytes_too(
    jnc: NATS, event_sets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(natsrpc.events.core, "MAX_PENDING_BYTES", 250)
    release = asyncio.Event()
    seen: list[str] = []

    class Slow(event_sets.PingEvents):  # type: ignore[misc]
        async def on_pinged(self, event: Any, context: EventContext) -> None:
            await release.wait()
            seen.append(event.id[:2])

    server = await start(jnc, Slow(), max_concurrency=1, max_pending=100)
    publisher = event_sets.PingEventsPublisher(jnc)
    # One in hand; then events of about 100 bytes each: two fit in 250 bytes.
    for n in range(6):
        await publisher.pinged(event_sets.Ping(id=f"{n:02d}" + "x" * 98))

    async def dropped() -> bool:
        [stats] = await natsrpc.discovery.stats(jnc, "evtest-PingEvents", expected=1)
        return stats.endpoint("Pinged").shed == 3

    await eventually(dropped)
    release.set()
    await eventually(lambda: len(seen) == 3)
    await server.stop()
    assert sorted(seen) == ["00", "01", "02"]
