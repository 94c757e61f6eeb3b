"""A latency histogram in the HdrHistogram manner: log-linear buckets, mergeable, small.

Values (nanoseconds) below 256 are kept exactly; above, each power of two is split
into 128 buckets, so any value is known to within 1/128 (0.8 %) at every scale,
from a microsecond to an hour, in at most a few thousand counters. Histograms from
several load processes merge by adding counts, which percentiles of merged sorted
samples could not do without shipping every sample.
"""

from __future__ import annotations

import math
from typing import Any

SUB_BUCKET_BITS = 7
EXACT_BELOW = 1 << (SUB_BUCKET_BITS + 1)


def bucket_of(value: int) -> int:
    shift = value.bit_length() - SUB_BUCKET_BITS - 1
    if shift <= 0:
        return value
    return (shift << SUB_BUCKET_BITS) + (value >> shift)


def bucket_range(index: int) -> tuple[int, int]:
    """The lowest and highest value that fall into bucket ``index``."""
    if index < EXACT_BELOW:
        return index, index
    shift = (index >> SUB_BUCKET_BITS) - 1
    top = index - (shift << SUB_BUCKET_BITS)
    return top << shift, ((top + 1) << shift) - 1


class Histogram:
    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        self.sum = 0
        self.min = 0
        self.max = 0

    def record(self, value: int) -> None:
        value = max(0, value)
        index = bucket_of(value)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        if not self.total or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.total += 1
        self.sum += value

    def merge(self, other: Histogram) -> None:
        if not other.total:
            return
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.min = other.min if not self.total else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.sum += other.sum

    def percentile(self, q: float) -> int:
        """The value at or below which a fraction ``q`` of the values are (0 when empty)."""
        if not self.total:
            return 0
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return max(self.min, min(self.max, bucket_range(index)[1]))
        return self.max

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def bins(self, count: int = 12) -> list[tuple[int, int]]:
        """``count`` bins from min to max, each as wide as the last times a constant factor
        (tails are what a load test is for), as (upper bound, values in the bin)."""
        if not self.total:
            return []
        low, high = max(1, self.min), max(1, self.max)
        if high <= low:
            return [(high, self.total)]
        factor = (high / low) ** (1 / count)
        uppers = [round(low * factor ** (i + 1)) for i in range(count)]
        uppers[-1] = high
        tallies = [0] * count
        for index, number in self.counts.items():
            value = max(self.min, min(self.max, bucket_range(index)[0]))
            slot = 0
            while slot < count - 1 and value > uppers[slot]:
                slot += 1
            tallies[slot] += number
        return list(zip(uppers, tallies, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {str(k): v for k, v in self.counts.items()},
            "total": self.total,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Histogram:
        histogram = cls()
        histogram.counts = {int(k): int(v) for k, v in document["counts"].items()}
        histogram.total = int(document["total"])
        histogram.sum = int(document["sum"])
        histogram.min = int(document["min"])
        histogram.max = int(document["max"])
        return histogram
