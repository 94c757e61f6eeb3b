"""The load tester's latency histogram: bucket precision, percentiles, merging, bins."""

from __future__ import annotations

import random

from natsrpc.cli.histogram import Histogram, bucket_of, bucket_range


def test_every_value_lands_in_a_bucket_within_one_128th() -> None:
    values = list(range(0, 5000)) + [random.Random(7).randrange(1, 2**42) for _ in range(5000)]
    for value in values:
        low, high = bucket_range(bucket_of(value))
        assert low <= value <= high
        assert high - low <= max(0, low) / 128
    # Buckets are ordered like their values, so sorting buckets sorts values.
    assert [bucket_of(v) for v in sorted(values)] == sorted(bucket_of(v) for v in values)


def test_percentiles_of_known_values() -> None:
    histogram = Histogram()
    for value in range(1, 10_001):
        histogram.record(value * 1000)
    assert (histogram.min, histogram.max, histogram.total) == (1000, 10_000_000, 10_000)
    for q, expected in ((0.5, 5_000_000), (0.99, 9_900_000), (0.999, 9_990_000), (1.0, 10**7)):
        assert abs(histogram.percentile(q) - expected) <= expected / 128
    assert histogram.mean == 5_000_500.0
    assert Histogram().percentile(0.99) == 0


def test_merged_histograms_equal_one_of_all_values() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(13, 1)) for _ in range(4000)]
    whole, left, right = Histogram(), Histogram(), Histogram()
    for i, value in enumerate(values):
        whole.record(value)
        (left if i % 3 else right).record(value)
    merged = Histogram.from_dict(left.to_dict())
    merged.merge(Histogram.from_dict(right.to_dict()))
    assert merged.to_dict() == whole.to_dict()
    assert [merged.percentile(q) for q in (0.5, 0.99)] == [whole.percentile(q) for q in (0.5, 0.99)]


def test_bins_cover_min_to_max_and_hold_every_value() -> None:
    histogram = Histogram()
    for value in (200_000, 300_000, 310_000, 5_000_000, 90_000_000):
        histogram.record(value)
    bins = histogram.bins(6)
    assert len(bins) == 6
    assert bins[-1][0] == 90_000_000
    assert [upper for upper, _ in bins] == sorted(upper for upper, _ in bins)
    assert sum(count for _, count in bins) == 5
    assert bins[0][1] == 3  # each bin is (450x)^(1/6), 2.8x, wider: 200 to 554 µs
