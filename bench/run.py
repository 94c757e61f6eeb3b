"""Run the natsrpc benchmark suite: ``python -m bench`` or ``python bench/run.py``.

Each run of a scenario starts a fresh nats-server, the server processes and the
load processes, lets the load warm up, then measures. CPU time is sampled from
outside (psutil) at the edges of the measured window; each child reports its
own peak RSS. Results go to bench/results/latest.json and latest.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, stubs
from bench.common import CONTENDERS
from natsrpc.testing import NatsServer, nats_server_binary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ALL = CONTENDERS
STREAMING = ("natsrpc", "grpc")
NATS_AND_RAW = ("natsrpc", "raw")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    kind: str
    """``unary``, ``server_stream`` or ``bidi``; see bench/load.py."""
    size: int
    concurrency: int
    contenders: tuple[str, ...]
    servers: int = 1
    load_processes: int = 1

    @property
    def unit(self) -> str:
        return "calls/s" if self.kind == "unary" else "msgs/s"


SCENARIOS = (
    Scenario("unary-100B-c1", "unary 100 B, concurrency 1", "unary", 100, 1, ALL),
    Scenario("unary-100B-c64", "unary 100 B, concurrency 64", "unary", 100, 64, ALL),
    Scenario("unary-64KiB-c1", "unary 64 KiB, concurrency 1", "unary", 65536, 1, ALL),
    Scenario("unary-64KiB-c64", "unary 64 KiB, concurrency 64", "unary", 65536, 64, ALL),
    Scenario("server-stream", "server streaming, 100 B msgs", "server_stream", 100, 1, STREAMING),
    Scenario("bidi-pingpong", "bidi ping-pong, 100 B msgs", "bidi", 100, 1, STREAMING),
    Scenario("qgroup-1", "unary 100 B c64, 1 server", "unary", 100, 64, NATS_AND_RAW, 1, 1),
    Scenario("qgroup-2", "unary 100 B c64, 2 servers", "unary", 100, 64, NATS_AND_RAW, 2, 1),
)


@dataclass(frozen=True)
class Settings:
    warmup: float
    duration: float
    memory_calls: int
    stream_count: int
    rounds: int
    stubs: Path
    quick: bool


class ChildError(RuntimeError):
    pass


class Child:
    """A bench/serve.py or bench/load.py process and its line protocol (bench/common.py)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        # Closed in finish(); a file, not a pipe, so a chatty child cannot block.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=ROOT,
            text=True,
            bufsize=1,
        )
        self.ps = psutil.Process(self.process.pid)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, event: str, timeout: float = 60.0) -> Any:
        """Wait for ``event`` and return its JSON data (None when it has none)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ChildError(f"{self.name}: no {event!r} within {timeout:g}s") from None
        if line is None:
            raise ChildError(f"{self.name} exited before {event!r}:\n{self.stderr_tail()}")
        name, _, data = line.partition(" ")
        if name != event:
            raise ChildError(f"{self.name}: expected {event!r}, got {line[:200]!r}")
        return json.loads(data) if data else None

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def finish(self) -> None:
        """Close stdin (the signal to exit) and wait; kill it if it will not go."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self._stderr.close()

    def stderr_tail(self, lines: int = 15) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _broker(nats: NatsServer) -> psutil.Process:
    if nats.pid is None:
        raise RuntimeError("nats-server is not running")
    return psutil.Process(nats.pid)


class Run:
    """One scenario for one contender: a fresh nats-server, servers, load processes."""

    def __init__(self, scenario: Scenario, contender: str, settings: Settings) -> None:
        self.scenario = scenario
        self.contender = contender
        self.settings = settings
        self.env = dict(os.environ)
        paths = [str(ROOT), str(settings.stubs), os.environ.get("PYTHONPATH", "")]
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self.servers: list[Child] = []
        self.loads: list[Child] = []

    def start_servers(self, url: str) -> int:
        name = f"{self.contender} server"
        for i in range(self.scenario.servers):
            args = ["-m", "bench.serve", self.contender, url]
            self.servers.append(Child(f"{name} {i}", args, self.env))
        infos = [server.expect("ready", timeout=60) for server in self.servers]
        return int(infos[0].get("port", 0))

    def start_loads(self, url: str, grpc_port: int, calls: int | None = None) -> None:
        s = self.scenario
        per_process = max(1, s.concurrency // s.load_processes)
        for i in range(s.load_processes):
            args = [
                "-m",
                "bench.load",
                self.contender,
                s.kind,
                f"--url={url}",
                f"--grpc-port={grpc_port}",
                f"--size={s.size}",
                f"--concurrency={per_process}",
                f"--stream-count={self.settings.stream_count}",
            ]
            if calls is not None:
                args += [f"--calls={calls}", f"--progress={max(1, calls // 10)}"]
            self.loads.append(Child(f"{self.contender} load {i}", args, self.env))
        for load in self.loads:
            load.expect("warming", timeout=60)

    def finish(self) -> list[int]:
        """Stop every child; the servers' peak RSS in bytes."""
        for load in self.loads:
            load.finish()
        peaks = []
        for server in self.servers:
            try:
                server.process.stdin.close()  # type: ignore[union-attr]
                peaks.append(int(server.expect("rss", timeout=30)))
            except (ChildError, OSError):
                peaks.append(0)
            server.finish()
        return peaks

    def measure(self) -> dict[str, Any]:
        s, settings = self.scenario, self.settings
        with NatsServer() as nats:
            broker = _broker(nats)
            try:
                port = self.start_servers(nats.url)
                self.start_loads(nats.url, port)
                time.sleep(settings.warmup)
                groups = {"server": self.servers, "client": self.loads}
                before = {k: sum(_cpu_seconds(c.ps) for c in v) for k, v in groups.items()}
                broker_before = _cpu_seconds(broker)
                for load in self.loads:
                    load.send("measure")
                time.sleep(settings.duration)
                after = {k: sum(_cpu_seconds(c.ps) for c in v) for k, v in groups.items()}
                broker_after = _cpu_seconds(broker)
                for load in self.loads:
                    load.send("stop")
                outcomes = [load.expect("result", timeout=120) for load in self.loads]
            finally:
                server_peaks = self.finish()
        latencies = sorted(x for o in outcomes for x in o["latencies_ns"])
        count = len(latencies)
        cpu = {k: after[k] - before[k] for k in after}
        if self.contender != "grpc":
            cpu["broker"] = broker_after - broker_before
        per_10k = 10_000 / count if count else 0.0
        return {
            "scenario": s.key,
            "contender": self.contender,
            "status": "ok",
            "unit": s.unit,
            "count": count,
            "rate": sum(o["count"] / o["seconds"] for o in outcomes),
            "p50_us": _percentile(latencies, 0.50) / 1000,
            "p99_us": _percentile(latencies, 0.99) / 1000,
            "cpu_seconds": cpu,
            "cpu_s_per_10k": (cpu["server"] + cpu["client"]) * per_10k,
            "broker_cpu_s_per_10k": cpu.get("broker", 0.0) * per_10k,
            "peak_rss_mib": {
                "server": [round(b / 2**20, 1) for b in server_peaks],
                "client": [round(o["peak_rss"] / 2**20, 1) for o in outcomes],
            },
        }


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    return float(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))])


def memory_check(settings: Settings) -> dict[str, Any]:
    """RSS of a natsrpc server after warm-up, then every tenth of ``memory_calls`` calls."""
    scenario = Scenario("memory", "memory", "unary", 100, 64, ("natsrpc",))
    run = Run(scenario, "natsrpc", settings)
    calls = settings.memory_calls
    with NatsServer() as nats:
        try:
            run.start_servers(nats.url)
            run.start_loads(nats.url, 0, calls=calls)
            time.sleep(max(settings.warmup, 2.0))
            server = run.servers[0].ps
            load = run.loads[0]
            samples = [(0, server.memory_info().rss)]
            load.send("measure")
            while len(samples) <= 10:
                done = int(load.expect("progress", timeout=300))
                samples.append((done, server.memory_info().rss))
            load.expect("done", timeout=300)
            load.expect("result", timeout=60)
        finally:
            run.finish()
    growth = samples[-1][1] - samples[0][1]
    return {
        "calls": calls,
        "rss_after_warmup_mib": samples[0][1] / 2**20,
        "rss_after_calls_mib": samples[-1][1] / 2**20,
        "growth_mib": growth / 2**20,
        "growth_bytes_per_call": growth / calls,
        "samples_mib": [[n, round(rss / 2**20, 2)] for n, rss in samples],
    }


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    server_version = subprocess.run(
        [nats_server_binary(), "--version"], capture_output=True, text=True
    ).stdout.strip()
    versions = {p: metadata.version(p) for p in ("nats-py", "grpcio", "protobuf", "natsrpc")}
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nats_server": server_version,
        **versions,
    }


def run_all(settings: Settings, only: list[str] | None) -> dict[str, Any]:
    """Every scenario for every contender, ``settings.rounds`` times, interleaved.

    Interleaving spreads slow patches of a shared machine over all contenders;
    each pair keeps its fastest round (the others' rates stay in ``round_rates``).
    """
    chosen = [s for s in SCENARIOS if not only or any(word in s.key for word in only)]
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = {}
    final: dict[tuple[str, str], dict[str, Any]] = {}
    for number in range(1, settings.rounds + 1):
        if settings.rounds > 1:
            print(f"round {number} of {settings.rounds}", flush=True)
        for scenario in chosen:
            for contender in scenario.contenders:
                key = (scenario.key, contender)
                if key in final:  # failed in an earlier round
                    continue
                print(f"  {scenario.title:32} {contender:8}", end=" ", flush=True)
                skip = {"scenario": scenario.key, "contender": contender, "unit": scenario.unit}
                try:
                    result = Run(scenario, contender, settings).measure()
                except ChildError as error:
                    final[key] = {**skip, "status": "failed", "error": str(error)}
                    print(f"failed\n{_indent(str(error))}")
                    continue
                rounds.setdefault(key, []).append(result)
                rate, p50 = result["rate"], result["p50_us"]
                print(f"{rate:>10,.0f} {scenario.unit}  p50 {p50:,.0f} us", flush=True)
    results = []
    for scenario in chosen:
        for contender in scenario.contenders:
            key = (scenario.key, contender)
            if key in final:
                results.append(final[key])
            elif key in rounds:
                best = max(rounds[key], key=lambda r: float(r["rate"]))
                results.append({**best, "round_rates": [r["rate"] for r in rounds[key]]})
    memory = None
    if not only or "memory" in only:
        print(f"  memory check: natsrpc server over {settings.memory_calls:,} calls", flush=True)
        try:
            memory = memory_check(settings)
        except ChildError as error:
            print(_indent(str(error)))
    return {"results": results, "memory": memory}


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 1 s per measurement")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per run (default 1)")
    parser.add_argument("--duration", type=float, help="seconds measured per run (default 3)")
    parser.add_argument("--rounds", type=int, help="runs of each pair, best kept (default 2)")
    parser.add_argument("--memory-calls", type=int, help="calls in the memory check (100000)")
    parser.add_argument(
        "--only", nargs="+", metavar="WORD", help="run scenarios whose key contains WORD"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    with tempfile.TemporaryDirectory(prefix="natsrpc-bench-") as tmp:
        generated = stubs.generate(Path(tmp))
        settings = Settings(
            warmup=args.warmup if args.warmup is not None else (0.5 if quick else 1.0),
            duration=args.duration if args.duration is not None else (1.0 if quick else 3.0),
            memory_calls=args.memory_calls or (20_000 if quick else 100_000),
            stream_count=1000,
            rounds=args.rounds or (1 if quick else 2),
            stubs=generated.directory,
            quick=quick,
        )
        info = machine()
        print(
            f"natsrpc bench: {info['cpus']} CPUs ({info['cpu_model']}), "
            f"{settings.warmup:g} s warm-up + {settings.duration:g} s per run",
            flush=True,
        )
        started = time.monotonic()
        outcome = run_all(settings, args.only)
    document = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "settings": {
            "warmup_s": settings.warmup,
            "duration_s": settings.duration,
            "memory_calls": settings.memory_calls,
            "stream_count": settings.stream_count,
            "rounds": settings.rounds,
            "quick": quick,
            "wall_s": round(time.monotonic() - started, 1),
        },
        "scenarios": [
            {"key": s.key, "title": s.title, "servers": s.servers, "unit": s.unit}
            for s in SCENARIOS
        ],
        **outcome,
    }
    document["targets"] = report.targets(document)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(document, indent=1) + "\n")
    print()
    print(report.table(document))
    report.chart(document, args.out / "latest.png")
    print(f"\nwrote {args.out / 'latest.json'} and {args.out / 'latest.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
