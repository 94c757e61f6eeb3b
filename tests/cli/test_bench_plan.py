"""How `natsrpc bench --processes P` shares a plan out: every call once, arrivals interleaved."""

from __future__ import annotations

from natsrpc.cli.load import split
from natsrpc.cli.load_drivers import Plan


def test_open_loop_share_keeps_the_total_rate_and_interleaves_first_calls() -> None:
    plans = split(Plan(rate=100.0, concurrency=1, warmup=1.0, duration=None, calls=7,
                       timeout=5.0), 3)  # fmt: skip
    assert [p.calls for p in plans] == [3, 2, 2]
    assert sum(p.rate or 0 for p in plans) == 100.0
    # Process k's calls fall k/100 s after process 0's: together, one call every 10 ms.
    assert [p.offset for p in plans] == [0.0, 0.01, 0.02]


def test_closed_loop_share_divides_the_workers_with_one_each_at_least() -> None:
    plans = split(Plan(rate=None, concurrency=5, warmup=0.0, duration=2.0, calls=None,
                       timeout=5.0), 2)  # fmt: skip
    assert [(p.concurrency, p.duration, p.offset) for p in plans] == [(3, 2.0, 0.0), (2, 2.0, 0.0)]
    lone = split(Plan(None, 1, 0.0, 2.0, None, 5.0), 3)
    assert [p.concurrency for p in lone] == [1, 1, 1]
