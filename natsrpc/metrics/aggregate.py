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

Unary calls, the hottest path, are cheaper still: ``CallDurations`` queues each
call as the ``natsrpc.telemetry`` hooks report it and counts the queue into
buckets in batches.

This module uses neither the SDK nor the exporter: collection reads plain
snapshots (``Point``).
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Attributes = dict[str, str]
Taken = tuple[Attributes, int, list[int], float]
"""A series as collected: its attributes, start, bucket counts and sum."""

BATCH = 512
"""Calls a ``CallDurations`` queues before counting them into buckets: a few tens of
kilobytes at most, and well under a millisecond of counting at a time."""


class _Series:
    """One attribute set's counts; changed only under its histogram's lock."""

    __slots__ = ("attributes", "counts", "start", "sum")

    def __init__(self, attributes: Attributes, buckets: int) -> None:
        self.attributes = attributes
        self.counts = [0] * buckets
        self.sum = 0.0
        self.start = time.time_ns()

    def taken(self) -> Taken:
        """A copy of the series as it is (take it under the lock that guards it)."""
        return dict(self.attributes), self.start, list(self.counts), self.sum


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
        self._sources: list[Callable[[], list[Taken]]] = []

    def include(self, source: Callable[[], list[Taken]]) -> None:
        """Collect the series ``source`` returns with this histogram's own (a ``CallDurations``)."""
        self._sources.append(source)

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
            taken = [series.taken() for series in self._series.values()]
        for source in self._sources:
            taken.extend(source())
        merged: dict[tuple[tuple[str, str], ...], Point] = {}
        for attributes, start, counts, total in taken:
            key = tuple(sorted(attributes.items()))
            found = merged.get(key)
            if found is not None:
                counts = [a + b for a, b in zip(found.bucket_counts, counts, strict=True)]
                start, total = min(start, found.start_time_unix_nano), total + found.sum
            merged[key] = Point(attributes, start, counts, total)
        return list(merged.values())


class CallDurations:
    """One side's unary calls, as the ``natsrpc.telemetry`` hooks report them, in batches.

    ``AggregatedHistogram.record`` costs a call two Python calls, a bisect in
    floats, a lock and a few lookups. Here a hook appends the call's
    nanoseconds to its series' queue, a list: ``append``, a slice and deleting
    a slice are each one step that no other thread sees half done, so hooks
    take no lock. Once a queue holds ``batch`` calls, every queue is counted:
    sorted and cut at each boundary with one bisect, so the work per call runs
    in C. Collecting counts whatever is queued first, so a scrape sees every
    call that ended before it began.

    Calls are keyed ``(method, code)``, any hashable pair whose attributes
    ``attributes(method, code)`` gives. The client's start hook queues each
    call's method too, for the calls in progress (``in_progress``).
    """

    def __init__(
        self,
        histogram: AggregatedHistogram,
        attributes: Callable[[Any, Any], Attributes],
        batch: int = BATCH,
    ) -> None:
        self.batch = batch
        self._limits = [_last_within(bound) for bound in histogram.boundaries]
        self._attributes = attributes
        self._queues: dict[Any, dict[Any, list[int]]] = {}
        """Nanoseconds of the calls ended and not yet counted, by method and code;
        added to under the lock."""
        self._series: dict[tuple[Any, Any], _Durations] = {}
        self._started: list[Any] = []
        self.calling: Callable[[Any], None] = self._started.append
        """``telemetry.unary_calling``: a call of ``method`` starts. A list's own append,
        so that the runtime pays for no Python frame."""
        self._starts: Counter[Any] = Counter()
        self._lock = threading.Lock()
        histogram.include(self._taken)

    @property
    def queued(self) -> int:
        """Ended calls not yet counted into buckets."""
        with self._lock:
            return sum(len(queue) for codes in self._queues.values() for queue in codes.values())

    def ended(self, method: Any, code: Any, nanoseconds: int) -> None:
        """``telemetry.unary_called`` or ``unary_served``: a call of ``method`` ended with
        ``code`` after ``nanoseconds``."""
        # By method, then code: a key of two lookups by identity, cheaper than
        # building, hashing and comparing a (method, code) tuple each call.
        queue = self._queues.get(method, _NONE).get(code)
        if queue is None:
            queue = self._add(method, code)
        queue.append(nanoseconds)
        if len(queue) >= self.batch:
            self.count()

    def _add(self, method: Any, code: Any) -> list[int]:
        with self._lock:
            codes = self._queues.setdefault(method, {})
            queue = codes.get(code)
            if queue is None:
                attributes = self._attributes(method, code)
                self._series[method, code] = _Durations(attributes, len(self._limits) + 1)
                queue = codes[code] = []
            return queue

    def count(self) -> None:
        """Count every call queued so far into its series."""
        with self._lock:
            self._count()

    def _count(self) -> None:
        # Only this takes from the queues, under the lock, and hooks only append:
        # the first n of a queue whose length was n stay the same while hooks
        # queue more. Ends are measured first: every call counted as ended then
        # has its start counted too, and no method is ever below zero calls in
        # progress.
        lengths = [
            ((method, code), queue, len(queue))
            for method, codes in self._queues.items()
            for code, queue in codes.items()
        ]
        started = len(self._started)
        for key, queue, length in lengths:
            if length:
                values = queue[:length]
                del queue[:length]
                self._series[key].add(values, self._limits)
        methods = self._started[:started]
        del self._started[:started]
        self._starts.update(methods)

    def _taken(self) -> list[Taken]:
        with self._lock:
            self._count()
            return [series.taken() for series in self._series.values()]

    def in_progress(self) -> dict[Any, int]:
        """Calls started and not yet ended, by method (for the client's active calls)."""
        with self._lock:
            self._count()
            ended: Counter[Any] = Counter()
            for (method, _), series in self._series.items():
                ended[method] += sum(series.counts)
            return {method: total - ended[method] for method, total in self._starts.items()}


_NONE: dict[Any, list[int]] = {}
"""The codes of a method not seen yet: none (never added to)."""


class _Durations:
    """A ``CallDurations`` series: bucket counts and a sum kept in whole nanoseconds."""

    __slots__ = ("attributes", "counts", "nanoseconds", "start")

    def __init__(self, attributes: Attributes, buckets: int) -> None:
        self.attributes = attributes
        self.counts = [0] * buckets
        self.nanoseconds = 0
        self.start = time.time_ns()

    def add(self, values: list[int], limits: list[int]) -> None:
        """Count ``values``, each into the first bucket whose limit it does not exceed."""
        values.sort()
        counts, below = self.counts, 0
        for index, limit in enumerate(limits):
            within = bisect_right(values, limit)
            counts[index] += within - below
            below = within
        counts[-1] += len(values) - below
        self.nanoseconds += sum(values)

    def taken(self) -> Taken:
        return dict(self.attributes), self.start, list(self.counts), self.nanoseconds / 1e9


def _last_within(bound: float) -> int:
    """The most nanoseconds ``n`` with ``n / 1e9 <= bound``: the boundary in whole
    nanoseconds, so that each call falls into the bucket its seconds would."""
    n = round(bound * 1e9)
    while n / 1e9 > bound:
        n -= 1
    while (n + 1) / 1e9 <= bound:
        n += 1
    return n


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
