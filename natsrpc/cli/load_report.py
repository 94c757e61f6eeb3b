"""``natsrpc bench``'s report: the processes' tallies merged, as a table or a JSON document."""

from __future__ import annotations

from typing import Any

from natsrpc.cli.histogram import Histogram, bucket_range
from natsrpc.cli.load_drivers import Plan
from natsrpc.cli.output import duration, echo_json
from natsrpc.spec import MethodKind

PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999))
LAG_LIMIT_NS = 2_000_000
"""Open loop: sent this late, a call shows the generator's delay (asyncio's timers wake
within about a millisecond, so less is the clock's grain, not falling behind)."""
LAG_SHARE = 0.01
BUSY_SHARE = 0.9
"""A load process busy this much of its time is itself the bottleneck."""
BAR_WIDTH = 40
KINDS = {
    MethodKind.UNARY: "unary",
    MethodKind.SERVER_STREAMING: "server streaming",
    MethodKind.CLIENT_STREAMING: "client streaming",
    MethodKind.BIDI_STREAMING: "bidi streaming",
}


def histogram(document: dict[str, Any]) -> Histogram:
    return Histogram.from_dict(document)


def _us(nanoseconds: float) -> float:
    return round(nanoseconds / 1000, 1)


def build(
    method: str, kind: MethodKind, plan: Plan, processes: int, tallies: list[dict[str, Any]]
) -> dict[str, Any]:
    """One document from every process's ``Tally.to_dict()``."""
    latency, lag = Histogram(), Histogram()
    errors: dict[str, int] = {}
    messages = 0
    for tally in tallies:
        latency.merge(histogram(tally["latency"]))
        lag.merge(histogram(tally["lag"]))
        for code, count in tally["errors"].items():
            errors[code] = errors.get(code, 0) + count
        messages += tally["messages"]
    seconds = max(float(t["seconds"]) for t in tallies)
    calls = latency.total + sum(errors.values())
    busy = [t["cpu_seconds"] / t["wall_seconds"] if t["wall_seconds"] else 0.0 for t in tallies]
    document: dict[str, Any] = {
        "method": method,
        "kind": KINDS[kind].replace(" ", "_"),
        "mode": "closed" if plan.rate is None else "open",
        "rate": plan.rate,
        "concurrency": plan.concurrency,
        "processes": processes,
        "warmup_s": plan.warmup,
        "duration_s": plan.duration,
        "interrupted": any(t.get("interrupted") for t in tallies),
        "calls": calls,
        "ok": latency.total,
        "errors": dict(sorted(errors.items())),
        "seconds": round(seconds, 6),
        "throughput": calls / seconds if seconds else 0.0,
        "messages": messages,
        "messages_per_second": messages / seconds if seconds else 0.0,
        "latency_us": {
            "min": _us(latency.min),
            "mean": _us(latency.mean),
            **{name: _us(latency.percentile(q)) for name, q in PERCENTILES},
            "max": _us(latency.max),
        },
        "histogram": [{"up_to_us": _us(upper), "count": n} for upper, n in latency.bins()],
        "generator": {
            "busy": [round(b, 3) for b in busy],
            "lag_us": None if plan.rate is None else _lag(lag),
        },
    }
    warnings = _saturation(plan, busy, lag)
    document["generator"]["saturated"] = bool(warnings)
    document["generator"]["warnings"] = warnings
    return document


def _lag(lag: Histogram) -> dict[str, float]:
    return {"p50": _us(lag.percentile(0.5)), "p99": _us(lag.percentile(0.99)), "max": _us(lag.max)}


def _saturation(plan: Plan, busy: list[float], lag: Histogram) -> list[str]:
    warnings = []
    late = sum(n for index, n in lag.counts.items() if bucket_range(index)[0] > LAG_LIMIT_NS)
    if plan.rate is not None and lag.total and late > LAG_SHARE * lag.total:
        warnings.append(
            f"the load generator could not keep --rate {plan.rate:g}: {late / lag.total:.1%} of "
            f"the calls went out over {duration(LAG_LIMIT_NS)} late (p99 "
            f"{duration(lag.percentile(0.99))}), and their latencies include that delay; "
            "lower --rate or add --processes"
        )
    for number, share in enumerate(busy, 1):
        if share >= BUSY_SHARE:
            warnings.append(
                f"load process {number} was busy {share:.0%} of the time: the generator "
                "limits these numbers as much as the service does; add --processes"
            )
    return warnings


def echo_document(document: dict[str, Any]) -> None:
    echo_json(document)


def table(document: dict[str, Any]) -> str:
    d = document
    kind = d["kind"].replace("_", " ")
    if d["mode"] == "open":
        how = f"open loop at {d['rate']:g}/s"
        if d["kind"] == "bidi_streaming":
            how += f" over {d['concurrency']} stream(s)"
    else:
        how = f"closed loop, concurrency {d['concurrency']}"
    span = f"{d['duration_s']:g}s" if d["duration_s"] is not None else f"{d['calls']} calls"
    if d["interrupted"]:
        span += f" cut short by Ctrl-C at {d['seconds']:.1f}s"
    lines = [
        f"{d['method']} ({kind}): {how}, {span} after {d['warmup_s']:g}s of warm-up, "
        f"{d['processes']} process{'es' if d['processes'] > 1 else ''}",
        "",
    ]
    rows = [
        ("calls", f"{d['calls']:,} ({d['ok']:,} ok, {sum(d['errors'].values()):,} failed)"),
        ("throughput", f"{d['throughput']:,.1f} calls/s over {d['seconds']:.2f}s"),
    ]
    if d["kind"] == "server_streaming":
        rows.append(("messages", f"{d['messages']:,} ({d['messages_per_second']:,.1f}/s)"))
    latency = d["latency_us"]
    names = ["p50", "p90", "p99", "p99.9", "max", "mean"]
    origin = "due time" if d["mode"] == "open" else "send"
    what = "round trip" if d["kind"] == "bidi_streaming" else "latency"
    rows.append(
        (what, "  ".join(f"{n} {_human(latency[n])}" for n in names) + f"  (from {origin})")
    )
    lag = d["generator"]["lag_us"]
    if lag is not None:
        rows.append(("send lag", f"p50 {_human(lag['p50'])}  p99 {_human(lag['p99'])}  "
                                 f"max {_human(lag['max'])}"))  # fmt: skip
    busy = ", ".join(f"{b:.0%}" for b in d["generator"]["busy"])
    rows.append(("generator busy", busy))
    width = max(len(name) for name, _ in rows)
    lines += [f"{name:{width}}  {value}" for name, value in rows]
    if d["histogram"]:
        lines += ["", "latency histogram (ok calls, up to)"]
        peak = max(b["count"] for b in d["histogram"]) or 1
        for b in d["histogram"]:
            bar = "■" * round(BAR_WIDTH * b["count"] / peak)
            lines.append(f"  {_human(b['up_to_us']):>8}  {b['count']:>9,}  {bar}")
    if d["errors"]:
        lines += ["", "errors by code"]
        width = max(len(code) for code in d["errors"])
        lines += [f"  {code:{width}}  {count:,}" for code, count in d["errors"].items()]
    return "\n".join(lines)


def _human(microseconds: float) -> str:
    return duration(int(microseconds * 1000))
