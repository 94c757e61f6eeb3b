"""Turn a results document (bench/results/latest.json) into a table, targets and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MEMORY_FLAT_MIB = 2.0
"""Largest RSS growth over the memory check that still counts as flat."""

Document = dict[str, Any]


def _index(doc: Document) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["scenario"], r["contender"]): r for r in doc["results"] if r["status"] == "ok"}


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    if a is None or b is None or not b.get(key):
        return None
    return float(a[key]) / float(b[key])


def targets(doc: Document) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and PASS, MISS or n/a."""
    results = _index(doc)
    rows: list[dict[str, Any]] = []

    def add(
        name: str, value: float | None, limit: float, higher_is_better: bool, unit: str
    ) -> None:
        if value is None:
            verdict = "n/a"
        else:
            ok = value >= limit if higher_is_better else value <= limit
            verdict = "PASS" if ok else "MISS"
        rel = ">=" if higher_is_better else "<="
        rows.append(
            {"target": name, "value": value, "limit": f"{rel} {limit:g}{unit}", "verdict": verdict}
        )

    def get(scenario: str, contender: str) -> dict[str, Any] | None:
        return results.get((scenario, contender))

    for size in ("100B", "64KiB"):
        key = f"unary-{size}-c64"
        value = _ratio(get(key, "natsrpc"), get(key, "raw"), "rate")
        add(f"{key}: natsrpc throughput / raw", value, 0.9, True, "x")
    for size in ("100B", "64KiB"):
        key = f"unary-{size}-c1"
        value = _ratio(get(key, "natsrpc"), get(key, "raw"), "p50_us")
        add(f"{key}: natsrpc p50 / raw", value, 1.15, False, "x")
    for key in ("unary-100B-c1", "unary-100B-c64", "unary-64KiB-c1", "unary-64KiB-c64"):
        value = _ratio(get(key, "natsrpc"), get(key, "grpc"), "rate")
        add(f"{key}: natsrpc throughput / grpc.aio", value, 4.0, True, "x")
    value = _ratio(get("server-stream", "natsrpc"), get("server-stream", "grpc"), "rate")
    add("server-stream: natsrpc msgs/s / grpc.aio", value, 1.0, True, "x")
    value = _ratio(get("qgroup-2", "natsrpc"), get("qgroup-1", "natsrpc"), "rate")
    add("qgroup: natsrpc 2 servers / 1 server", value, 1.6, True, "x")
    memory = doc.get("memory")
    growth = memory["growth_mib"] if memory else None
    calls = f"{memory['calls'] // 1000}k" if memory else "100k"
    add(
        f"memory: natsrpc server RSS growth over {calls} calls",
        growth,
        MEMORY_FLAT_MIB,
        False,
        " MiB",
    )
    return rows


def _fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def table(doc: Document) -> str:
    results = _index(doc)
    titles = {s["key"]: s["title"] for s in doc["scenarios"]}
    header = (
        f"{'scenario':30} {'contender':9} {'rate':>12} {'x raw':>6} {'x grpc':>7} "
        f"{'p50 us':>8} {'x raw':>6} {'p99 us':>8} {'CPU s/10k':>9} {'+broker':>8} "
        f"{'RSS srv MiB':>12} {'RSS cli MiB':>12}"
    )
    lines = [header, "-" * len(header)]
    for r in doc["results"]:
        title = titles.get(r["scenario"], r["scenario"])
        if r["status"] != "ok":
            lines.append(f"{title:30} {r['contender']:9} {r['status']}")
            continue
        raw = results.get((r["scenario"], "raw"))
        grpc = results.get((r["scenario"], "grpc"))
        rss_server = "/".join(f"{m:.0f}" for m in r["peak_rss_mib"]["server"])
        rss_client = "/".join(f"{m:.0f}" for m in r["peak_rss_mib"]["client"])
        unit = "/s" if r["unit"] == "calls/s" else " m/s"
        lines.append(
            f"{title:30} {r['contender']:9} {_fmt(r['rate'], ',.0f', unit):>12} "
            f"{_fmt(_ratio(r, raw, 'rate'), '.2f'):>6} {_fmt(_ratio(r, grpc, 'rate'), '.2f'):>7} "
            f"{r['p50_us']:>8,.0f} {_fmt(_ratio(r, raw, 'p50_us'), '.2f'):>6} "
            f"{r['p99_us']:>8,.0f} {r['cpu_s_per_10k']:>9.2f} "
            f"{_fmt(r['broker_cpu_s_per_10k'] or None, '.2f'):>8} "
            f"{rss_server:>12} {rss_client:>12}"
        )
    memory = doc.get("memory")
    if memory:
        lines.append("")
        samples = " ".join(f"{mib:.1f}" for _, mib in memory["samples_mib"])
        lines.append(
            f"memory: natsrpc server RSS {memory['rss_after_warmup_mib']:.1f} MiB after warm-up, "
            f"{memory['rss_after_calls_mib']:.1f} MiB after {memory['calls']:,} calls "
            f"({memory['growth_mib']:+.2f} MiB); every tenth: {samples}"
        )
    lines.append("")
    lines.append("targets")
    for t in doc["targets"]:
        value = _fmt(t["value"], ".2f")
        lines.append(f"  {t['verdict']:5} {t['target']:52} {value:>7} (target {t['limit']})")
    m, s = doc["machine"], doc["settings"]
    lines.append("")
    lines.append(
        f"{doc['date']}, {m['cpus']} CPUs {m['cpu_model']}, Python {m['python']}, "
        f"{m['nats_server']}, nats-py {m['nats-py']}, grpcio {m['grpcio']}, "
        f"protobuf {m['protobuf']}; {s['warmup_s']:g} s warm-up + {s['duration_s']:g} s per run, "
        f"best of {s.get('rounds', 1)} interleaved rounds"
    )
    return "\n".join(lines)


def chart(doc: Document, path: Path) -> None:
    """Two grouped bar charts: throughput and p50 latency, per scenario and contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = _index(doc)
    scenarios = [s for s in doc["scenarios"] if any(k[0] == s["key"] for k in results)]
    contenders = [c for c in ("natsrpc", "raw", "micro", "grpc") if any(k[1] == c for k in results)]
    if not scenarios:
        return
    fig, axes = plt.subplots(2, 1, figsize=(13, 8.5), constrained_layout=True)
    width = 0.8 / max(1, len(contenders))
    labels = [s["title"].replace(", ", ",\n", 1) for s in scenarios]
    for ax, key, ylabel in (
        (axes[0], "rate", "calls or messages per second (log)"),
        (axes[1], "p50_us", "p50 latency, microseconds (log)"),
    ):
        for i, contender in enumerate(contenders):
            xs, ys = [], []
            for j, s in enumerate(scenarios):
                r = results.get((s["key"], contender))
                if r is not None:
                    xs.append(j + (i - (len(contenders) - 1) / 2) * width)
                    ys.append(r[key])
            bars = ax.bar(xs, ys, width, label=contender)
            ax.bar_label(bars, fmt="{:,.0f}", fontsize=6, rotation=90, padding=2)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_xticks(range(len(scenarios)), labels, fontsize=8)
        ax.margins(y=0.25)
    axes[0].legend(ncols=len(contenders), loc="upper left")
    m = doc["machine"]
    fig.suptitle(f"natsrpc bench, {doc['date']}, {m['cpus']} CPUs ({m['cpu_model']})", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
