"""natsrpc's own histogram aggregation: the same points the SDK makes, exact under threads."""

from __future__ import annotations

import threading

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest

from natsrpc.metrics.aggregate import AggregatedHistogram, aggregates_of
from natsrpc.metrics.instruments import (
    DURATION_BUCKETS,
    EventInstruments,
    RpcInstruments,
    histogram,
)
from natsrpc.metrics.provider import natsrpc_meter_provider

OK = {"rpc.method": "a.B/C", "rpc.response.status_code": "OK"}
FAILED = {"rpc.method": "a.B/C", "rpc.response.status_code": "INTERNAL"}
# Below, on and between boundaries, and above the last one.
VALUES = [0.0, 0.00005, 0.0001, 0.00010001, 0.003, 0.25, 0.2500001, 29.9, 30.0, 31.0, 500.0]


def sdk_points(values: list[tuple[float, dict[str, str]]]) -> dict[str, HistogramDataPoint]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    recorder = histogram(provider, "d", unit="s", description="", boundaries=DURATION_BUCKETS)
    for value, attributes in values:
        recorder.record(value, attributes)
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
    points = [p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)]
    return {str((p.attributes or {})["rpc.response.status_code"]): p for p in points}


def test_buckets_sum_and_count_match_the_sdk() -> None:
    recorded = [(v, OK) for v in VALUES] + [(0.002, FAILED), (7.0, FAILED)]
    mine = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    for value, attributes in recorded:
        mine.record(value, attributes)
    expected = sdk_points(recorded)
    points = {p.attributes["rpc.response.status_code"]: p for p in mine.points()}
    assert set(points) == set(expected) == {"OK", "INTERNAL"}
    for status, point in points.items():
        sdk = expected[status]
        assert point.bucket_counts == list(sdk.bucket_counts)
        assert point.count == sdk.count
        assert point.sum == sdk.sum
    assert points["OK"].count == len(VALUES)
    assert points["OK"].bucket_counts[-1] == 2  # 31 and 500 are above the last boundary


def test_equal_attribute_dicts_are_one_series() -> None:
    mine = AggregatedHistogram("d", "s", "", (1.0, 2.0))
    mine.record(0.5, dict(OK))
    mine.record(1.5, dict(OK))
    mine.record(3.0, OK)
    (point,) = mine.points()
    assert point.attributes == OK
    assert (point.bucket_counts, point.sum) == ([1, 1, 1], 5.0)


def test_recording_from_threads_while_collecting_is_exact() -> None:
    mine = AggregatedHistogram("d", "s", "", DURATION_BUCKETS)
    threads, per_thread = 4, 20_000
    done = threading.Event()
    snapshots: list[tuple[int, float]] = []

    def record() -> None:
        for _ in range(per_thread):
            mine.record(0.5, OK)

    def collect() -> None:
        while not done.is_set():
            for point in mine.points():
                snapshots.append((point.count, point.sum))

    collector = threading.Thread(target=collect)
    collector.start()
    workers = [threading.Thread(target=record) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    collector.join()
    (point,) = mine.points()
    assert point.count == threads * per_thread
    assert point.sum == 0.5 * threads * per_thread
    # Every snapshot is of whole measurements: its sum is its count's.
    assert all(total == 0.5 * count for count, total in snapshots)


def test_natsrpc_provider_exports_the_aggregates_as_prometheus_histograms() -> None:
    registry = CollectorRegistry()
    provider = natsrpc_meter_provider(registry, Resource.create({}))
    try:
        instruments = RpcInstruments(provider, "server")
        assert isinstance(instruments.duration, AggregatedHistogram)
        for value in (0.0001, 0.002, 0.002, 45.0):
            instruments.duration.record(value, OK)
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    lines = {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("rpc_server_call_duration_seconds")
    }

    def sample(suffix: str, le: str | None = None) -> float:
        (found,) = [
            v
            for k, v in lines.items()
            if k.startswith(f"rpc_server_call_duration_seconds_{suffix}{{")
            and (le is None or f'le="{le}"' in k)
        ]
        return found

    assert sample("count") == 4
    assert sample("sum") == 0.0001 + 0.002 + 0.002 + 45.0
    assert sample("bucket", "0.0001") == 1
    assert sample("bucket", "0.001") == 1
    assert sample("bucket", "0.0025") == 3
    assert sample("bucket", "30.0") == 3
    assert sample("bucket", "+Inf") == 4


def test_any_other_provider_records_through_the_sdk() -> None:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    assert aggregates_of(provider) is None
    assert not isinstance(RpcInstruments(provider, "client").duration, AggregatedHistogram)
    assert not isinstance(RpcInstruments(None, "client").duration, AggregatedHistogram)


def exposition(provider_for: str, values: list[tuple[float, dict[str, str]]]) -> list[str]:
    """The histogram lines /metrics would show after ``values``: through natsrpc's
    aggregates (``natsrpc``) or through the SDK and OpenTelemetry's exporter (``sdk``)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    registry = CollectorRegistry()
    if provider_for == "natsrpc":
        provider = natsrpc_meter_provider(registry, Resource.create({}))
    else:
        reader = PrometheusMetricReader(registry=registry)
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create({}))
    try:
        rpc = RpcInstruments(provider, "server")
        events = EventInstruments(provider)
        for value, attributes in values:
            rpc.duration.record(value, attributes)
            events.deliveries.record(round(value) + 1, attributes)
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith(("rpc_server_call_duration", "natsrpc_event_delivery_attempts"))
        or line.startswith(("# HELP rpc_", "# TYPE rpc_", "# HELP natsrpc_event_delivery"))
    )


def test_the_exposition_is_the_one_the_sdk_and_its_exporter_make() -> None:
    values = [(v, OK) for v in VALUES] + [(0.002, FAILED), (7.0, FAILED)]
    mine = exposition("natsrpc", values)
    assert any(line.startswith("rpc_server_call_duration_seconds_bucket") for line in mine)
    assert any(line.startswith("natsrpc_event_delivery_attempts_bucket") for line in mine)
    assert mine == exposition("sdk", values)
