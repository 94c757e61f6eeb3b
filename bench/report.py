"""Turn a results document (bench/results/latest.json) into a table, targets and a chart."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

MEMORY_FLAT_MIB = 2.0
"""Largest RSS growth over the memory check that still counts as flat."""
SLOW_READER_MIB = 4.0
"""Largest RSS growth of a server streaming 64 KiB messages to a slow reader: bounded by
the window (16 messages, 1 MiB), not by what the handler could produce."""
DEFAULT_LOOP = "asyncio"
"""The targets hold under asyncio's own loop; uvloop's ratios are reported beside them."""

Document = dict[str, Any]
Key = tuple[str, str, str]


def _index(doc: Document) -> dict[Key, dict[str, Any]]:
    return {
        (r["scenario"], r["contender"], r.get("loop", DEFAULT_LOOP)): r
        for r in doc["results"]
        if r["status"] == "ok"
    }


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    if a is None or b is None or not b.get(key):
        return None
    return float(a[key]) / float(b[key])


METRICS_ON_LIMIT = 0.95
"""Issue 19: recording metrics keeps at least this share of the throughput. Judged on the
median of each round's pair, run back to back (``bench.run.METRICS_ON``): the cost is a
few per cent, the best rounds of two runs on this machine differ by more than that."""
TARGETS = (
    # (name, scenario, against, measure, limit, higher is better)
    ("unary 100 B c64 throughput / raw nats-py", "unary-100B-c64", "raw", "rate", 1.0, True),
    ("unary 100 B c1 p50 / raw nats-py", "unary-100B-c1", "raw", "p50_us", 1.0, False),
    ("bidi ping-pong msgs/s / grpc.aio", "bidi-pingpong", "grpc", "rate", 1.0, True),
    ("server streaming msgs/s / grpc.aio", "server-stream", "grpc", "rate", 2.0, True),
    ("unary 64 KiB c1 throughput / raw nats-py", "unary-64KiB-c1", "raw", "rate", 1.0, True),
    ("unary 64 KiB c64 throughput / raw nats-py", "unary-64KiB-c64", "raw", "rate", 1.0, True),
    # Issue 22: tails at a fixed arrival rate, and the NATS floors.
    ("open loop 50% p99 / raw nats-py", "open-unary-100B-50pct", "raw", "p99_us", 1.1, False),
    ("open loop 80% p99 / raw nats-py", "open-unary-100B-80pct", "raw", "p99_us", 1.1, False),
    ("bidi ping-pong msgs/s / raw nats-py echo", "bidi-pingpong", "raw", "rate", 1.0, True),
    ("unary 100 B c64 p50 / raw nats-py", "unary-100B-c64", "raw", "p50_us", 1.0, False),
    ("unary 100 B c64, one connection / raw", "unary-100B-c64-shared", "raw", "rate", 1.0, True),
)
OPEN_AGAINST_GRPC = 0.5
"""Open loop: natsrpc's p99 at most this share of grpc.aio's, unless grpc.aio fell behind."""
OPEN_SCENARIOS = ("open-unary-100B-50pct", "open-unary-100B-80pct")


PUBLIC_PATH_RATIOS = (
    # nats-py's public API only (NATSRPC_FAST_PATH=0) against natsrpc's usual paths.
    ("public path / fast path, unary 100 B c64", "unary-100B-c64"),
    ("public path / fast path, JetStream consume+ack", "js-consume"),
)


def targets(doc: Document) -> list[dict[str, Any]]:
    """The issue's targets under each loop, with the measured value and PASS, MISS or n/a.

    Only the rows of the default loop are targets; the uvloop rows are the same
    ratios for information (both sides on uvloop).
    """
    results = _index(doc)
    loops = doc.get("settings", {}).get("loops") or [DEFAULT_LOOP]
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, higher: bool, unit: str = "x") -> None:
        if value is None:
            verdict = "n/a"
        else:
            verdict = "PASS" if (value >= limit if higher else value <= limit) else "MISS"
        rel = ">=" if higher else "<="
        rows.append(
            {"target": name, "value": value, "limit": f"{rel} {limit:g}{unit}", "verdict": verdict}
        )

    for loop in loops:
        suffix = "" if loop == DEFAULT_LOOP else f" [{loop}]"
        for name, scenario, against, measure, limit, higher in TARGETS:
            mine = results.get((scenario, "natsrpc", loop))
            theirs = results.get((scenario, against, loop))
            add(name + suffix, _ratio(mine, theirs, measure), limit, higher)
        for scenario in OPEN_SCENARIOS:
            mine = results.get((scenario, "natsrpc", loop))
            grpc = results.get((scenario, "grpc", loop))
            share = scenario.rsplit("-", 1)[1].replace("pct", "%")
            name = f"open loop {share} p99 / grpc.aio{suffix}"
            if grpc is not None and mine is not None and not grpc.get("sustained", True):
                rows.append({"target": name + " (grpc.aio fell behind)",
                             "value": _ratio(mine, grpc, "p99_us"),
                             "limit": f"<= {OPEN_AGAINST_GRPC:g}x", "verdict": "PASS"})  # fmt: skip
            else:
                add(name, _ratio(mine, grpc, "p99_us"), OPEN_AGAINST_GRPC, False)
        for name, scenario in PUBLIC_PATH_RATIOS:
            public = results.get((scenario, "natsrpc-public", loop))
            ratio = _ratio(public, results.get((scenario, "natsrpc", loop)), "rate")
            rows.append(
                {
                    "target": name + suffix,
                    "value": ratio,
                    "limit": "reported",
                    "verdict": "n/a" if ratio is None else "info",
                }
            )
        paired = round_ratios(doc, "unary-100B-c64", "natsrpc-metrics", "natsrpc", loop)
        add(_paired_title("unary 100 B c64 throughput, metrics on / off", paired) + suffix,
            statistics.median(paired) if paired else None, METRICS_ON_LIMIT, True)  # fmt: skip
    memory = doc.get("memory")
    calls = f"{memory['calls'] // 1000}k" if memory else "100k"
    growth = memory["growth_mib"] if memory else None
    add(f"memory: server RSS growth over {calls} calls", growth, MEMORY_FLAT_MIB, False, " MiB")
    slow = doc.get("slow_reader")
    add(
        "memory: server RSS growth, slow stream reader",
        slow["server_growth_mib"] if slow else None,
        SLOW_READER_MIB,
        False,
        " MiB",
    )
    return rows


def _paired_title(name: str, paired: list[float]) -> str:
    if not paired:
        return name
    return (f"{name}, median of {len(paired)} back-to-back pairs "
            f"(range {min(paired):.2f}-{max(paired):.2f})")  # fmt: skip


def _fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def table(doc: Document) -> str:
    results = _index(doc)
    titles = {s["key"]: s["title"] for s in doc["scenarios"]}
    header = (
        f"{'scenario':30} {'contender':9} {'loop':8} {'rate':>12} {'x raw':>6} {'x grpc':>7} "
        f"{'p50 us':>8} {'x raw':>6} {'p99 us':>8} {'srv us':>7} {'cli us':>7} {'brk us':>7} "
        f"{'RSS srv MiB':>12} {'RSS cli MiB':>12}"
    )
    lines = [header, "-" * len(header)]
    for r in doc["results"]:
        title = titles.get(r["scenario"], r["scenario"])
        loop = r.get("loop", DEFAULT_LOOP)
        if r["status"] != "ok":
            lines.append(f"{title:30} {r['contender']:9} {loop:8} {r['status']}")
            continue
        if "offered_rate" in r:
            continue  # in the open-loop table below
        raw = results.get((r["scenario"], "raw", loop))
        grpc = results.get((r["scenario"], "grpc", loop))
        cpu = r.get("cpu_us_per_call", {})
        rss_server = "/".join(f"{m:.0f}" for m in r["peak_rss_mib"]["server"])
        rss_client = "/".join(f"{m:.0f}" for m in r["peak_rss_mib"]["client"])
        unit = "/s" if r["unit"] == "calls/s" else " m/s"
        lines.append(
            f"{title:30} {r['contender']:9} {loop:8} {_fmt(r['rate'], ',.0f', unit):>12} "
            f"{_fmt(_ratio(r, raw, 'rate'), '.2f'):>6} {_fmt(_ratio(r, grpc, 'rate'), '.2f'):>7} "
            f"{r['p50_us']:>8,.0f} {_fmt(_ratio(r, raw, 'p50_us'), '.2f'):>6} "
            f"{r['p99_us']:>8,.0f} {_fmt(cpu.get('server'), '.1f'):>7} "
            f"{_fmt(cpu.get('client'), '.1f'):>7} {_fmt(cpu.get('broker'), '.1f'):>7} "
            f"{rss_server:>12} {rss_client:>12}"
        )
    lines += open_loop_table(doc)
    memory = doc.get("memory")
    if memory:
        lines.append("")
        samples = " ".join(f"{mib:.1f}" for _, mib in memory["samples_mib"])
        lines.append(
            f"memory: natsrpc server RSS {memory['rss_after_warmup_mib']:.1f} MiB after warm-up, "
            f"{memory['rss_after_calls_mib']:.1f} MiB after {memory['calls']:,} calls "
            f"({memory['growth_mib']:+.2f} MiB); every tenth: {samples}"
        )
    slow = doc.get("slow_reader")
    if slow:
        lines.append(
            f"slow reader: {slow['messages']:,} messages of {slow['size'] // 1024} KiB read "
            f"{slow['read_delay_ms']:g} ms apart; server RSS {slow['server_growth_mib']:+.2f} MiB, "
            f"client RSS {slow['client_growth_mib']:+.2f} MiB over the stream"
        )
    lines.append("")
    lines.append("targets (natsrpc against the named contender, same event loop)")
    for t in doc["targets"]:
        value = _fmt(t["value"], ".2f")
        lines.append(f"  {t['verdict']:5} {t['target']:56} {value:>7} (target {t['limit']})")
    projection = doc.get("projection")
    if projection:
        lines.append("")
        lines.append(projection["text"])
    m, s = doc["machine"], doc["settings"]
    lines.append("")
    lines.append(
        f"{doc['date']}, {m['cpus']} CPUs {m['cpu_model']}, Python {m['python']}, "
        f"{m['nats_server']}, nats-py {m['nats-py']}, grpcio {m['grpcio']}, "
        f"protobuf {m['protobuf']}, uvloop {m.get('uvloop', '-')}; "
        f"{s['warmup_s']:g} s warm-up + {s['duration_s']:g} s per run, "
        f"best of {s.get('rounds', 1)} interleaved rounds"
    )
    return "\n".join(lines)


def open_loop_table(doc: Document) -> list[str]:
    """Open-loop runs: offered and achieved rate, p50/p99/p99.9 and the generator's state."""
    runs = [r for r in doc["results"] if r["status"] == "ok" and "offered_rate" in r]
    if not runs:
        return []
    results = _index(doc)
    capacity = doc.get("open_loop_capacity", {})
    lines = [
        "",
        "open loop (latency from each call's due time; capacity: raw nats-py unary c64 "
        + ", ".join(f"{loop} {rate:,.0f}/s" for loop, rate in capacity.items())
        + ")",
    ]
    header = (f"{'scenario':40} {'contender':9} {'loop':8} {'offered':>9} {'achieved':>9} "
              f"{'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'p99 x raw':>9} {'p99 x grpc':>10} "
              f"{'gen busy':>8} {'lag p99':>8}")  # fmt: skip
    lines += [header, "-" * len(header)]
    titles = {s["key"]: s["title"] for s in doc["scenarios"]}
    for r in runs:
        loop = r.get("loop", DEFAULT_LOOP)
        raw = results.get((r["scenario"], "raw", loop))
        grpc = results.get((r["scenario"], "grpc", loop))
        generator = r.get("generator", {})
        busy = "/".join(f"{b:.0%}" for b in generator.get("busy", []))
        achieved = f"{r['rate']:,.0f}" + ("" if r.get("sustained") else "*")
        lines.append(
            f"{titles.get(r['scenario'], r['scenario']):40} {r['contender']:9} {loop:8} "
            f"{r['offered_rate']:>9,.0f} {achieved:>9} {r['p50_us']:>9,.0f} {r['p99_us']:>9,.0f} "
            f"{r['p999_us']:>9,.0f} {_fmt(_ratio(r, raw, 'p99_us'), '.2f'):>9} "
            f"{_fmt(_ratio(r, grpc, 'p99_us'), '.2f'):>10} {busy:>8} "
            f"{_fmt(generator.get('lag_p99_us'), ',.0f'):>8}"
        )
    lines.append("* did not keep the offered rate (or had errors): its latencies are a queue's")
    return lines


COLORS = {"natsrpc": "C0", "raw": "C1", "micro": "C2", "grpc": "C3", "faststream": "C4",
          "natsrpc-public": "C5", "natsrpc-metrics": "C6"}  # fmt: skip


def chart(doc: Document, path: Path) -> None:
    """Grouped bar charts per scenario, contender and loop: throughput and p50 of the closed
    loops, and p50/p99/p99.9 of the open loops (when they ran)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = _index(doc)
    present = [s for s in doc["scenarios"] if any(k[0] == s["key"] for k in results)]
    closed = [s for s in present if not s.get("open_loop")]
    opened = [s for s in present if s.get("open_loop")]
    series = sorted(
        {(k[1], k[2]) for k in results},
        key=lambda cl: (list(COLORS).index(cl[0]) if cl[0] in COLORS else 99, cl[1]),
    )
    Group = tuple[str, str, str]  # label, scenario, measure
    panels: list[tuple[str, list[Group]]] = []
    if closed:
        label = [s["title"].replace(", ", ",\n", 1) for s in closed]
        panels.append(
            (
                "calls or messages per second (log)",
                [(t, s["key"], "rate") for t, s in zip(label, closed, strict=True)],
            )
        )
        panels.append(
            (
                "p50 latency, microseconds (log)",
                [(t, s["key"], "p50_us") for t, s in zip(label, closed, strict=True)],
            )
        )
    if opened:
        percentiles = (("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us"))
        groups = [
            (s["title"].replace(", ", ",\n", 1) + "\n" + name, s["key"], key)
            for s in opened
            for name, key in percentiles
        ]
        panels.append(("open loop latency from the due time, microseconds (log)", groups))
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(15, 4.5 * len(panels)),
                             constrained_layout=True, squeeze=False)  # fmt: skip
    width = 0.84 / max(1, len(series))
    for ax, (ylabel, groups) in zip(axes[:, 0], panels, strict=True):
        for i, (contender, loop) in enumerate(series):
            xs, ys = [], []
            for j, (_, scenario, key) in enumerate(groups):
                r = results.get((scenario, contender, loop))
                if r is not None and key in r:
                    xs.append(j + (i - (len(series) - 1) / 2) * width)
                    ys.append(r[key])
            bars = ax.bar(
                xs,
                ys,
                width,
                label=f"{contender} ({loop})",
                color=COLORS.get(contender, "C7"),
                hatch="//" if loop != DEFAULT_LOOP else None,
                edgecolor="white" if loop != DEFAULT_LOOP else None,
            )
            ax.bar_label(bars, fmt="{:,.0f}", fontsize=5, rotation=90, padding=2)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_xticks(range(len(groups)), [g[0] for g in groups], fontsize=7)
        ax.margins(y=0.25)
    axes[0, 0].legend(ncols=min(len(series), 5), loc="upper left", fontsize=7)
    m = doc["machine"]
    fig.suptitle(
        f"natsrpc bench, {doc['date']}, {m['cpus']} CPUs ({m['cpu_model']}), "
        f"Python {m['python']}; hatched: uvloop",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


NAMES = {"natsrpc": "natsrpc", "raw": "raw nats-py", "micro": "nats.micro", "grpc": "grpc.aio",
         "faststream": "FastStream", "natsrpc-public": "natsrpc, public path",
         "natsrpc-metrics": "natsrpc, metrics on"}  # fmt: skip


def markdown(doc: Document, loop: str = DEFAULT_LOOP) -> str:
    """The README's table for one event loop: rate (and p50 where it matters) per contender."""
    results = _index(doc)
    contenders = [c for c in NAMES if any(k[1] == c and k[2] == loop for k in results)]
    header = ["scenario", *(NAMES[c] for c in contenders), "natsrpc / raw", "natsrpc / grpc"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for s in doc["scenarios"]:
        if s.get("open_loop"):
            continue  # open_markdown's
        row = [s["title"]]
        present = False
        for c in contenders:
            r = results.get((s["key"], c, loop))
            if r is None:
                row.append("")
                continue
            present = True
            unit = {"calls/s": "/s", "msgs/s": " msg/s", "events/s": " ev/s"}.get(r["unit"], "")
            cell = f"{r['rate']:,.0f}{unit}"
            if r["p50_us"] and (s["key"].endswith("c1") or s["key"] == "bidi-pingpong"):
                cell += f", p50 {r['p50_us']:,.0f} µs"
            row.append(cell)
        if not present:
            continue
        mine = results.get((s["key"], "natsrpc", loop))
        raw = results.get((s["key"], "raw", loop))
        grpc = results.get((s["key"], "grpc", loop))
        ratio = _ratio(mine, raw, "rate")
        latency = _ratio(mine, raw, "p50_us") if s["key"].endswith("c1") else None
        text = _fmt(ratio, ".2f") if ratio is not None else ""
        if latency is not None:
            text += f" (p50 {latency:.2f})"
        row += [text, _fmt(_ratio(mine, grpc, "rate"), ".2f") if grpc else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def open_markdown(doc: Document, loop: str = DEFAULT_LOOP) -> str:
    """The README's open-loop table: p50 / p99 / p99.9 per contender at each arrival rate."""
    results = _index(doc)
    capacity = doc.get("open_loop_capacity", {}).get(loop)
    header = ["arrival rate", "natsrpc p50 / p99 / p99.9 µs", "raw nats-py", "grpc.aio",
              "natsrpc p99 / raw", "natsrpc p99 / grpc"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for s in doc["scenarios"]:
        if not s.get("open_loop"):
            continue
        runs = {c: results.get((s["key"], c, loop)) for c in ("natsrpc", "raw", "grpc")}
        if not any(runs.values()):
            continue
        offered = next(r["offered_rate"] for r in runs.values() if r)
        share = f" ({offered / capacity:.0%} of raw c64)" if capacity else ""
        row = [f"{offered:,.0f}/s{share}"]
        for r in runs.values():
            if r is None:
                row.append("")
                continue
            cell = f"{r['p50_us']:,.0f} / {r['p99_us']:,.0f} / {r['p999_us']:,.0f}"
            if not r.get("sustained", True):
                cell += f" (achieved {r['rate']:,.0f}/s)"
            row.append(cell)
        row += [
            _fmt(_ratio(runs["natsrpc"], runs["raw"], "p99_us"), ".2f"),
            _fmt(_ratio(runs["natsrpc"], runs["grpc"], "p99_us"), ".2f"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


SPREAD_PAIRS = (
    ("unary-100B-c64", "natsrpc", "raw", "unary 100 B c64, natsrpc / raw nats-py"),
    ("unary-100B-c64-shared", "natsrpc", "raw", "unary 100 B c64, one connection, natsrpc / raw"),
    ("bidi-pingpong", "natsrpc", "raw", "bidi ping-pong, natsrpc / raw nats-py echo"),
    ("bidi-pingpong", "natsrpc", "grpc", "bidi ping-pong, natsrpc / grpc.aio"),
    ("server-stream", "natsrpc", "grpc", "server streaming, natsrpc / grpc.aio"),
    ("unary-100B-c64", "natsrpc-public", "natsrpc", "unary 100 B c64, public path / fast path"),
    ("unary-100B-c64", "natsrpc-metrics", "natsrpc", "unary 100 B c64, metrics on / off"),
    ("js-consume", "natsrpc-public", "natsrpc", "JetStream consume+ack, public path / fast"),
    ("js-consume", "natsrpc", "raw", "JetStream consume+ack, natsrpc / raw nats-py"),
)
"""Rate ratios whose spread over the rounds the README shows beside the best-of ratio."""


def round_ratios(doc: Document, key: str, mine: str, other: str, loop: str) -> list[float]:
    """Round by round, ``mine``'s rate over ``other``'s; rounds interleave, so round i of
    the one ran beside round i of the other."""
    results = _index(doc)
    a, b = results.get((key, mine, loop)), results.get((key, other, loop))
    if not a or not b:
        return []
    rounds = zip(a.get("round_rates", []), b.get("round_rates", []), strict=False)
    return [x / y for x, y in rounds if y]


def spread_markdown(doc: Document) -> str:
    """Per loop, each ratio of ``SPREAD_PAIRS`` as best-of and as its range over the rounds."""
    loops = doc.get("settings", {}).get("loops") or [DEFAULT_LOOP]
    header = ["ratio", *(f"{loop}: best of rounds / each round" for loop in loops)]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(loops) + "|"]
    results = _index(doc)
    for key, mine, other, title in SPREAD_PAIRS:
        row = [title]
        for loop in loops:
            best = _ratio(results.get((key, mine, loop)), results.get((key, other, loop)), "rate")
            each = round_ratios(doc, key, mine, other, loop)
            row.append(
                f"{best:.2f} / {', '.join(f'{r:.2f}' for r in each)}" if best is not None else ""
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def cpu_markdown(doc: Document) -> str:
    """CPU microseconds per call, server and client, natsrpc next to raw nats-py, per loop."""
    results = _index(doc)
    loops = doc.get("settings", {}).get("loops") or [DEFAULT_LOOP]
    header = ["scenario"]
    for loop in loops:
        header += [f"natsrpc srv / cli ({loop})", f"raw srv / cli ({loop})"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for s in doc["scenarios"]:
        if not s["key"].startswith(("unary", "workers")):
            continue
        row = [s["title"]]
        for loop in loops:
            for contender in ("natsrpc", "raw"):
                r = results.get((s["key"], contender, loop))
                cpu = r.get("cpu_us_per_call", {}) if r else {}
                row.append(f"{cpu['server']:.1f} / {cpu['client']:.1f}" if "server" in cpu else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    document = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
                          .read_text())  # fmt: skip
    for name in document["settings"].get("loops", [DEFAULT_LOOP]):
        print(f"\n{name}\n")
        print(markdown(document, name))
        if document.get("open_loop_capacity"):
            print(f"\nopen loop, {name}\n")
            print(open_markdown(document, name))
    print("\nspread over the rounds\n")
    print(spread_markdown(document))
    print("\nCPU us per call\n")
    print(cpu_markdown(document))
