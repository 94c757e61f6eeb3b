"""Explicit-bucket histograms that natsrpc aggregates itself, for the provider it builds.

The OpenTelemetry SDK's ``Histogram.record`` costs about 10 µs of Python per
measurement (attribute validation and hashing, view matching, exemplar
sampling, locks), which at tens of thousands of calls a second is a large part
of a call's whole budget. natsrpc's interceptors record the same histograms
here instead, with a bisect, an uncontended lock and a few list updates, when
the meter provider is one natsrpc built (``open_probes``, ``metrics_port``):
``attach`` marks it, and a collector of its registry (``natsrpc.metrics.provider``)
exposes the points at each scrape as the exporter would expose the SDK's
histograms: the same names, units, bucket boundaries and labels. Any other
provider gets the SDK's own instruments, as the OpenTelemetry API prescribes.

This module uses neither the SDK nor the exporter: collection reads plain
snapshots (``Point``).
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

Attributes = dict[str, str]


class _Series:
    """One attribute set's counts; changed only under its histogram's lock."""

    __slots__ = ("attributes", "counts", "start", "sum")

    def __init__(self, attributes: Attributes, buckets: int) -> None:
        self.attributes = attributes
        self.counts = [0] * buckets
        self.sum = 0.0
        self.start = time.time_ns()


@dataclass(frozen=True)
class Point:
    """A histogram's cumulative state for one attribute set, as collected.

    No minimum or maximum: the Prometheus exposition, the one reader of these,
    has no place for them, and keeping them would cost every call two comparisons.
    """

    attributes: Attributes
    start_time_unix_nano: int
    bucket_counts: list[int]
    """One more than the boundaries: the last counts values above every boundary."""
    sum: float

    @property
    def count(self) -> int:
        return sum(self.bucket_counts)


class AggregatedHistogram:
    """A histogram whose ``record`` matches the API's, aggregated in place.

    Values fall into buckets as the SDK's explicit-bucket aggregation puts them:
    bucket ``i`` holds ``boundaries[i-1] < value <= boundaries[i]``. Recording
    is safe from any thread, and so is ``points`` from the exposition thread.

    Series are keyed by the identity of the attributes dict: callers pass the
    same dict for the same attributes (natsrpc's interceptors cache them), so a
    call costs no hashing of attributes. An equal dict passed anew still counts
    correctly, as a series of its own merged at collection.
    """

    def __init__(self, name: str, unit: str, description: str, boundaries: Sequence[float]):
        self.name = name
        self.unit = unit
        self.description = description
        self.declared_boundaries = tuple(boundaries)
        """As the instrument declared them, for the bucket labels the exporter would write."""
        self.boundaries = tuple(float(b) for b in boundaries)
        self._series: dict[int, _Series] = {}
        self._lock = threading.Lock()

    def record(self, amount: float, attributes: Attributes) -> None:
        """Count ``amount`` (non-negative and finite, as natsrpc's durations and counts are)."""
        series = self._series.get(id(attributes))
        if series is None:
            series = self._add(attributes)
        index = bisect_left(self.boundaries, amount)
        with self._lock:
            series.counts[index] += 1
            series.sum += amount

    def _add(self, attributes: Attributes) -> _Series:
        with self._lock:
            series = self._series.get(id(attributes))
            if series is None:
                # The series keeps the dict alive, so its id is not reused meanwhile.
                series = _Series(attributes, len(self.boundaries) + 1)
                self._series[id(attributes)] = series
            return series

    def points(self) -> list[Point]:
        """A consistent snapshot of every attribute set recorded so far."""
        with self._lock:
            taken = [
                (dict(s.attributes), s.start, list(s.counts), s.sum) for s in self._series.values()
            ]
        merged: dict[tuple[tuple[str, str], ...], Point] = {}
        for attributes, start, counts, total in taken:
            key = tuple(sorted(attributes.items()))
            found = merged.get(key)
            if found is not None:
                counts = [a + b for a, b in zip(found.bucket_counts, counts, strict=True)]
                start, total = min(start, found.start_time_unix_nano), total + found.sum
            merged[key] = Point(attributes, start, counts, total)
        return list(merged.values())


class Aggregates:
    """The aggregated histograms of one meter provider, one per instrument name."""

    def __init__(self) -> None:
        self._histograms: dict[str, AggregatedHistogram] = {}
        self._lock = threading.Lock()

    def histogram(
        self, name: str, unit: str, description: str, boundaries: Sequence[float]
    ) -> AggregatedHistogram:
        """The histogram called ``name``, made on first asking (as the SDK shares instruments)."""
        with self._lock:
            found = self._histograms.get(name)
            if found is None:
                found = self._histograms[name] = AggregatedHistogram(
                    name, unit, description, boundaries
                )
            return found

    def histograms(self) -> list[AggregatedHistogram]:
        with self._lock:
            return list(self._histograms.values())


_attached: weakref.WeakKeyDictionary[object, Aggregates] = weakref.WeakKeyDictionary()


def attach(provider: object) -> Aggregates:
    """Mark ``provider`` as one whose registry exposes natsrpc's ``Aggregates``; return them."""
    aggregates = _attached.get(provider)
    if aggregates is None:
        aggregates = _attached[provider] = Aggregates()
    return aggregates


def aggregates_of(provider: object) -> Aggregates | None:
    """The aggregates ``attach`` gave ``provider``, or None for any other provider."""
    if provider is None:
        return None
    return _attached.get(provider)
