"""The meter provider natsrpc builds for ``/metrics``, and how its own histograms get there.

``natsrpc_meter_provider`` is an ordinary SDK ``MeterProvider`` with
OpenTelemetry's Prometheus reader, marked (``aggregate.attach``) so that
natsrpc's interceptors record their histograms into ``natsrpc.metrics.aggregate``
rather than through the SDK's ``Histogram.record``. Those histograms reach the
same Prometheus registry through a collector of their own, registered with
prometheus-client's public ``Collector`` interface, under the names, units,
labels and buckets the OpenTelemetry exporter gives the SDK's histograms
(``tests/observability/test_aggregate.py`` compares the two expositions).
Nothing here reaches into the SDK's or the exporter's internals.
"""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from natsrpc._version import __version__
from natsrpc.metrics.aggregate import AggregatedHistogram, Aggregates, attach
from natsrpc.metrics.instruments import SCOPE

_SCOPE_LABELS = {
    "otel_scope_name": SCOPE,
    "otel_scope_schema_url": "",
    "otel_scope_version": __version__,
}
"""The scope labels the OpenTelemetry exporter puts on every metric of natsrpc's meter."""
_UNITS = {"s": "seconds"}
"""Prometheus unit suffixes of the units natsrpc's histograms use; a ``{...}`` unit has none."""


def natsrpc_meter_provider(registry: CollectorRegistry, resource: Resource) -> MeterProvider:
    """A provider exporting to ``registry``, with natsrpc's histograms aggregated by natsrpc."""
    provider = MeterProvider(
        metric_readers=[PrometheusMetricReader(registry=registry)], resource=resource
    )
    registry.register(AggregateCollector(attach(provider)))
    return provider


class AggregateCollector(Collector):
    """natsrpc's aggregated histograms as Prometheus histogram families, at each scrape."""

    def __init__(self, aggregates: Aggregates) -> None:
        self._aggregates = aggregates

    def collect(self) -> Iterator[Metric]:
        for histogram in self._aggregates.histograms():
            family = _family(histogram)
            if family is not None:
                yield family


def _family(histogram: AggregatedHistogram) -> HistogramMetricFamily | None:
    points = histogram.points()
    if not points:
        return None  # as the exporter leaves out an instrument with nothing recorded
    rows = [{**_SCOPE_LABELS, **_labels(point.attributes)} for point in points]
    keys = sorted({key for row in rows for key in row})
    family = HistogramMetricFamily(
        histogram.name.replace(".", "_"),
        histogram.description,
        labels=keys,
        unit=_UNITS.get(histogram.unit, ""),
    )
    bounds = [*(f"{bound}" for bound in histogram.declared_boundaries), "+Inf"]
    for point, row in zip(points, rows, strict=True):
        cumulative, buckets = 0, []
        for bound, count in zip(bounds, point.bucket_counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric([row.get(key, "") for key in keys], buckets, point.sum)
    return family


def _labels(attributes: dict[str, str]) -> dict[str, str]:
    # natsrpc's attribute names are dotted lower-case words: Prometheus wants underscores.
    return {key.replace(".", "_"): value for key, value in attributes.items()}
