"""The meter provider natsrpc builds for ``/metrics``, and its Prometheus reader.

``natsrpc_meter_provider`` is an ordinary SDK ``MeterProvider`` with
OpenTelemetry's Prometheus reader, marked (``aggregate.attach``) so that
natsrpc's interceptors record their histograms into ``natsrpc.metrics.aggregate``
rather than through the SDK's ``Histogram.record``. The reader adds those
histograms to every collection, in natsrpc's instrumentation scope, so the
exporter (and anything reading the provider's data) sees the histograms the
SDK would have made.

The installed SDK has no ``MetricProducer`` hook; the reader's
``_receive_metrics``, the method every ``MetricReader`` subclass implements, is
where collected data passes through natsrpc's hands. The SDK skips it when it
has nothing of its own to report, so ``collect`` then calls it itself.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry

from natsrpc._version import __version__
from natsrpc.metrics.aggregate import AggregatedHistogram, Aggregates, attach
from natsrpc.metrics.instruments import SCOPE


def natsrpc_meter_provider(registry: CollectorRegistry, resource: Resource) -> MeterProvider:
    """A provider exporting to ``registry``, with natsrpc's histograms aggregated by natsrpc."""
    reader = AggregatingPrometheusReader(registry=registry, resource=resource)
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    reader.aggregates = attach(provider)
    return provider


class AggregatingPrometheusReader(PrometheusMetricReader):
    """OpenTelemetry's Prometheus reader, adding natsrpc's aggregates to what it collects."""

    def __init__(self, *, registry: CollectorRegistry, resource: Resource) -> None:
        super().__init__(registry=registry)
        self.aggregates = Aggregates()
        self._resource = resource
        self._collecting = threading.Lock()
        self._received = False

    # The SDK marks collect final for readers it drives itself; this reader's own
    # collector calls it, and the override only adds the case the SDK skips.
    def collect(self, timeout_millis: float = 10_000) -> None:  # type: ignore[misc]
        """The SDK's collection with natsrpc's aggregates, handed on to the exporter."""
        with self._collecting:  # scrapes come from several HTTP threads
            self._received = False
            super().collect(timeout_millis=timeout_millis)
            if not self._received and self._collect is not None:
                self._receive_metrics(None, timeout_millis=timeout_millis)

    def _receive_metrics(
        self, metrics_data: MetricsData | None, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._received = True
        super()._receive_metrics(
            with_aggregates(metrics_data, self.aggregates, self._resource),
            timeout_millis=timeout_millis,
            **kwargs,
        )


def with_aggregates(
    metrics_data: MetricsData | None, aggregates: Aggregates, resource: Resource
) -> MetricsData:
    """``metrics_data`` with ``aggregates``' histograms added to natsrpc's scope."""
    now = time.time_ns()
    added = [m for m in (_metric(h, now) for h in aggregates.histograms()) if m is not None]
    if metrics_data is None or not metrics_data.resource_metrics:
        scope = InstrumentationScope(SCOPE, __version__)
        return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, added, "")], "")])
    if not added:
        return metrics_data
    first, *others = metrics_data.resource_metrics
    scopes = list(first.scope_metrics)
    for index, scoped in enumerate(scopes):
        if scoped.scope.name == SCOPE and scoped.scope.version == __version__:
            scopes[index] = ScopeMetrics(scoped.scope, [*scoped.metrics, *added], scoped.schema_url)
            break
    else:
        scopes.append(ScopeMetrics(InstrumentationScope(SCOPE, __version__), added, ""))
    return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *others])


def _metric(histogram: AggregatedHistogram, now: int) -> Metric | None:
    points = histogram.points()
    if not points:
        return None  # as the SDK leaves out an instrument with nothing recorded
    bounds = list(histogram.boundaries)
    return Metric(
        name=histogram.name,
        description=histogram.description,
        unit=histogram.unit,
        data=Histogram(
            data_points=[
                HistogramDataPoint(
                    attributes=p.attributes,
                    start_time_unix_nano=p.start_time_unix_nano,
                    time_unix_nano=now,
                    count=p.count,
                    sum=p.sum,
                    bucket_counts=p.bucket_counts,
                    explicit_bounds=bounds,
                    min=p.min,
                    max=p.max,
                )
                for p in points
            ],
            aggregation_temporality=AggregationTemporality.CUMULATIVE,
        ),
    )
