"""natsrpc at another git revision against this tree, in alternating ``python -m bench`` runs.

    python -m bench.against REV [--runs N] [--out DIR] -- BENCH-OPTIONS...

The revision is exported (``git archive``) into a temporary directory and benchmarked
with this venv's Python and that tree first on ``PYTHONPATH``, so its runtime, plugin
and bench code are the ones measured. The two trees take turns, ``--runs`` times each
(A, B, A, B, ...), so that a machine getting busier or quieter moves both alike.
Every round's rate of every (scenario, contender, loop) is kept; the table gives this
tree's median over the revision's, with the spread of the per-run ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent

Key = tuple[str, str, str]


def export(revision: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision], cwd=HERE, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def bench_run(tree: Path, out: Path, bench_args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "bench", *bench_args, "--out", str(out)]
    print("+", f"(in {tree})", " ".join(command), flush=True)
    subprocess.run(command, cwd=tree, env=env, check=True)
    document: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return document


def round_rates(document: dict[str, Any]) -> dict[Key, list[float]]:
    rates: dict[Key, list[float]] = {}
    for result in document["results"]:
        if result.get("status") != "ok":
            continue
        key = (result["scenario"], result["contender"], result["loop"])
        rates[key] = list(result.get("round_rates") or [result["rate"]])
    return rates


def compare(
    base: list[dict[Key, list[float]]], here: list[dict[Key, list[float]]]
) -> list[dict[str, Any]]:
    """Per key: both trees' rates, the ratio of medians and the range of per-run ratios."""
    rows = []
    for key in sorted(set().union(*base) & set().union(*here)):
        base_rates = [r for run in base for r in run.get(key, [])]
        here_rates = [r for run in here for r in run.get(key, [])]
        run_ratios = [
            statistics.median(h[key]) / statistics.median(b[key])
            for b, h in zip(base, here, strict=True)
            if key in b and key in h
        ]
        rows.append(
            {
                "scenario": key[0],
                "contender": key[1],
                "loop": key[2],
                "base": base_rates,
                "here": here_rates,
                "ratio": statistics.median(here_rates) / statistics.median(base_rates),
                "run_ratios": run_ratios,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], revision: str) -> str:
    lines = [
        f"| scenario | contender | loop | {revision} (median, min to max) "
        "| this tree (median, min to max) | ratio | per-run ratios |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        base, here = row["base"], row["here"]
        lines.append(
            f"| {row['scenario']} | {row['contender']} | {row['loop']} "
            f"| {statistics.median(base):,.0f} ({min(base):,.0f} to {max(base):,.0f}) "
            f"| {statistics.median(here):,.0f} ({min(here):,.0f} to {max(here):,.0f}) "
            f"| {row['ratio']:.3f} | {', '.join(f'{r:.3f}' for r in row['run_ratios'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.against", description=__doc__)
    parser.add_argument("revision", help="the git revision to compare this tree against")
    parser.add_argument("--runs", type=int, default=3, help="bench runs of each tree (3)")
    parser.add_argument("--out", type=Path, help="write the comparison JSON here")
    given = sys.argv[1:] if argv is None else argv
    split = given.index("--") if "--" in given else len(given)
    args = parser.parse_args(given[:split])
    bench_args = given[split + 1 :]
    base: list[dict[Key, list[float]]] = []
    here: list[dict[Key, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="natsrpc-against-") as tmp:
        base_tree = Path(tmp) / "base"
        export(args.revision, base_tree)
        for run in range(args.runs):
            base.append(round_rates(bench_run(base_tree, Path(tmp) / f"base-{run}", bench_args)))
            here.append(round_rates(bench_run(HERE, Path(tmp) / f"here-{run}", bench_args)))
    rows = compare(base, here)
    print()
    print(markdown(rows, args.revision))
    if args.out is not None:
        args.out.write_text(json.dumps({"revision": args.revision, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
