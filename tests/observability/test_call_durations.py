"""Unary calls queued by the telemetry hooks and counted in batches (``aggregate.CallDurations``):
the buckets recording each call would give, every call seen by a scrape, exact under threads."""

from __future__ import annotations

import asyncio
import math
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry
from scrape import scrape, value

import natsrpc
from natsrpc import telemetry
from natsrpc.metrics import Probes, enable
from natsrpc.metrics.aggregate import AggregatedHistogram, CallDurations
from natsrpc.metrics.instruments import DURATION_BUCKETS
from natsrpc.metrics.provider import natsrpc_meter_provider

S = natsrpc.StatusCode
ATTRIBUTES = {
    S.OK: {"rpc.method": "a.B/C", "rpc.response.status_code": "OK"},
    S.INTERNAL: {"rpc.method": "a.B/C", "rpc.response.status_code": "INTERNAL"},
}
METHOD = object()
"""A method: the hooks key on identity, as on a MethodSpec."""


@pytest.fixture
def often_switching_threads() -> Iterator[None]:
    """Threads switched every microsecond, so that hooks and collection interleave often."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def attributes_of(method: object, code: natsrpc.StatusCode) -> dict[str, str]:
    assert method is METHOD
    return ATTRIBUTES[code]


def on_and_around_every_boundary() -> list[int]:
    """Nanoseconds: zero, each boundary's and one either side, and above the last."""
    around = [round(b * 1e9) + d for b in DURATION_BUCKETS for d in (-1, 0, 1)]
    return [0, 1, *around, 45 * 10**9]


def test_buckets_are_those_recording_each_call_in_seconds_gives() -> None:
    values = on_and_around_every_boundary()
    batched = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    durations = CallDurations(batched, attributes_of, batch=7)
    one_by_one = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    for index, nanoseconds in enumerate(values):
        code = S.INTERNAL if index % 5 == 0 else S.OK
        durations.ended(METHOD, code, nanoseconds)
        one_by_one.record(nanoseconds / 1e9, ATTRIBUTES[code])
    assert 0 < durations.queued < 7  # some counted in batches, the rest at collection

    expected = {p.attributes["rpc.response.status_code"]: p for p in one_by_one.points()}
    points = {p.attributes["rpc.response.status_code"]: p for p in batched.points()}
    assert set(points) == set(expected) == {"OK", "INTERNAL"}
    assert durations.queued == 0
    for status, point in points.items():
        assert point.bucket_counts == expected[status].bucket_counts
        # Summed in whole nanoseconds, then in seconds: what adding seconds gives, less rounding.
        codes = [S.INTERNAL if i % 5 == 0 else S.OK for i in range(len(values))]
        nanoseconds = sum(v for v, c in zip(values, codes, strict=True) if c.name == status)
        assert point.sum == nanoseconds / 1e9
        assert math.isclose(point.sum, expected[status].sum, rel_tol=1e-12)
    assert sum(p.count for p in points.values()) == len(values)


def test_a_full_queue_is_counted_by_the_call_that_fills_it() -> None:
    histogram = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    durations = CallDurations(histogram, attributes_of, batch=4)
    for _ in range(3):
        durations.ended(METHOD, S.OK, 2_000_000)
    assert durations.queued == 3
    durations.ended(METHOD, S.OK, 2_000_000)
    assert durations.queued == 0
    durations.ended(METHOD, S.OK, 2_000_000)
    assert durations.queued == 1
    (point,) = histogram.points()
    assert point.count == 5
    assert point.sum == 0.01
    assert point.bucket_counts[DURATION_BUCKETS.index(0.0025)] == 5


def test_calls_in_progress_are_those_started_and_not_ended() -> None:
    durations = CallDurations(AggregatedHistogram("d", "s", "", DURATION_BUCKETS), attributes_of)
    other = object()
    assert durations.in_progress() == {}
    durations.calling(METHOD)
    durations.calling(METHOD)
    durations.calling(other)
    assert durations.in_progress() == {METHOD: 2, other: 1}
    durations.ended(METHOD, S.OK, 1_000)
    assert durations.in_progress() == {METHOD: 1, other: 1}
    durations.ended(METHOD, S.INTERNAL, 2_000)
    assert durations.in_progress() == {METHOD: 0, other: 1}


@pytest.mark.usefixtures("often_switching_threads")
def test_a_clients_calls_from_threads_while_collecting_are_counted_exactly_once() -> None:
    histogram = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    # A small batch, so that threads' hooks count queues while others append and collect.
    durations = CallDurations(histogram, attributes_of, batch=16)
    threads, per_thread = 4, 5_000
    done = threading.Event()
    ended: list[int] = []
    in_progress: list[int] = []

    def call() -> None:
        for index in range(per_thread):
            durations.calling(METHOD)
            durations.ended(METHOD, S.OK if index % 2 else S.INTERNAL, 1_000)

    def collect() -> None:
        while not done.is_set():
            in_progress.extend(durations.in_progress().values())
            ended.append(sum(p.count for p in histogram.points()))

    collector = threading.Thread(target=collect)
    collector.start()
    callers = [threading.Thread(target=call) for _ in range(threads)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    done.set()
    collector.join()

    points = {p.attributes["rpc.response.status_code"]: p for p in histogram.points()}
    assert points["OK"].count == points["INTERNAL"].count == threads * per_thread // 2
    assert durations.queued == 0
    assert durations.in_progress() == {METHOD: 0}
    # Each thread has one call at most in progress at a time; collections only add up.
    assert all(0 <= calls <= threads for calls in in_progress)
    assert ended == sorted(ended)
    assert len(ended) > 1


@pytest.mark.usefixtures("often_switching_threads")
def test_a_servers_calls_from_threads_while_collecting_are_counted_exactly_once() -> None:
    histogram = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    durations = CallDurations(histogram, attributes_of, batch=16)
    threads, per_thread = 4, 5_000
    done = threading.Event()
    snapshots: list[tuple[int, float]] = []

    def serve() -> None:
        for _ in range(per_thread):
            durations.ended(METHOD, S.OK, 500_000_000)

    def collect() -> None:
        while not done.is_set():
            for point in histogram.points():
                snapshots.append((point.count, point.sum))

    collector = threading.Thread(target=collect)
    collector.start()
    servers = [threading.Thread(target=serve) for _ in range(threads)]
    for server in servers:
        server.start()
    for server in servers:
        server.join()
    done.set()
    collector.join()
    (point,) = histogram.points()
    assert point.count == threads * per_thread
    assert point.sum == 0.5 * threads * per_thread
    assert all(total == 0.5 * count for count, total in snapshots)


def test_enable_queues_unary_calls_only_for_natsrpcs_own_provider() -> None:
    provider = natsrpc_meter_provider(CollectorRegistry(), Resource.create({}))
    metrics = enable(provider)
    try:
        calling, called, served = (
            telemetry.unary_calling,
            telemetry.unary_called,
            telemetry.unary_served,
        )
        # The client's start is its queue's own append; both ends queue.
        assert getattr(calling, "__name__", None) == "append"
        assert isinstance(getattr(calling, "__self__", None), list)
        assert [getattr(hook, "__func__", None) for hook in (called, served)] == [
            CallDurations.ended,
            CallDurations.ended,
        ]
        assert getattr(called, "__self__", None) is not getattr(served, "__self__", None)
    finally:
        metrics.disable()
        provider.shutdown()
    assert (telemetry.unary_calling, telemetry.unary_called, telemetry.unary_served) == (
        None,
        None,
        None,
    )

    sdk = MeterProvider(metric_readers=[InMemoryMetricReader()])
    metrics = enable(sdk)
    try:
        assert telemetry.unary_served == metrics.server_interceptor.served
        assert not isinstance(getattr(telemetry.unary_calling, "__self__", None), list)
        assert telemetry.unary_called == metrics.client_interceptor.unary_ended
    finally:
        metrics.disable()
        sdk.shutdown()
    assert telemetry.unary_served is None


async def test_a_scrape_sees_every_call_ended_and_each_one_in_progress(
    nc: NATS, probes: Probes, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    async with server:
        probes.watch(server)
        client = echo_natsrpc.EchoClient(nc)
        calls = 600  # more than a batch: some counted by a hook, the rest by the scrape
        await asyncio.gather(*(client.echo(echo_pb2.EchoRequest(text="a")) for _ in range(calls)))
        slow = asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(sleep_ms=10_000)))
        await eventually(lambda: impl.active == 1)
        text = await scrape(probes.port)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await eventually(lambda: impl.active == 0)
        after = await scrape(probes.port)

    echo = "natsrpc_test.Echo/Echo"
    for side in ("client", "server"):
        assert value(text, f"rpc_{side}_call_duration_seconds_count", rpc_method=echo) == calls
    assert value(text, "natsrpc_client_active_calls", rpc_method=echo) == 1
    assert value(after, "natsrpc_client_active_calls", rpc_method=echo) == 0
    assert value(after, "rpc_client_call_duration_seconds_count", rpc_method=echo) == calls + 1
    cancelled = value(
        after,
        "rpc_client_call_duration_seconds_count",
        rpc_method=echo,
        rpc_response_status_code="CANCELLED",
    )
    assert cancelled == 1
