"""Run the natsrpc benchmark suite: ``python -m bench`` or ``python bench/run.py``.

Each run of a scenario starts a fresh nats-server, the server processes and the
load processes, lets the load warm up, then measures. CPU time is sampled from
outside (psutil) at the edges of the measured window; each child reports its
own peak RSS. Results go to bench/results/latest.json and latest.png.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, stubs
from bench.children import Child, ChildError, ServeCommand, cpu_seconds
from bench.common import CONTENDERS, METRICS_ENV
from bench.loops import LOOPS
from natsrpc.testing import NatsServer, nats_server_binary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ALL = CONTENDERS
STREAMING = ("natsrpc", "grpc")
NATS_AND_RAW = ("natsrpc", "raw")
BIDI = ("natsrpc", "raw", "grpc")
"""raw: the NATS floor, an echo published with a reply inbox (bench/load.py RawEcho)."""
OPEN_LOOP = ("natsrpc", "raw", "grpc")
CAPACITY_SCENARIO = "unary-100B-c64"
PUBLIC_PATH = "natsrpc-public"
"""natsrpc with NATSRPC_FAST_PATH=0: nats-py's public API only, to price the fast path."""
METRICS_ON = "natsrpc-metrics"
"""natsrpc with metrics recorded on both sides (bench.common.enable_metrics_if_asked).
Listed right after natsrpc, so that each round runs the two back to back: a few
per cent is the difference to see, and this machine drifts more than that in a minute."""
NATSRPC_VARIANTS = (PUBLIC_PATH, METRICS_ON)
"""Contenders that run natsrpc itself under another setting."""


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
    events: bool = False
    """Run by bench/events.py against a JetStream-enabled nats-server."""
    rate_share: float | None = None
    """Open loop: calls due at this share of raw nats-py's unary c64 rate in the same run."""
    shared: bool = False
    """natsrpc and raw on one connection in one load process (and one server process)."""

    @property
    def unit(self) -> str:
        if self.events:
            return "events/s"
        return "calls/s" if self.kind == "unary" else "msgs/s"


SCENARIOS = (
    Scenario("unary-100B-c1", "unary 100 B, concurrency 1", "unary", 100, 1, ALL),
    Scenario(
        "unary-100B-c64",
        "unary 100 B, concurrency 64",
        "unary",
        100,
        64,
        ("natsrpc", METRICS_ON, *ALL[1:], PUBLIC_PATH),
    ),
    Scenario("unary-64KiB-c1", "unary 64 KiB, concurrency 1", "unary", 65536, 1, ALL),
    Scenario("unary-64KiB-c64", "unary 64 KiB, concurrency 64", "unary", 65536, 64, ALL),
    Scenario("server-stream", "server streaming, 100 B msgs", "server_stream", 100, 1, STREAMING),
    Scenario("bidi-pingpong", "bidi ping-pong, 100 B msgs", "bidi", 100, 1, BIDI),
    # natsrpc and raw: measured one after the other by one load process on one connection.
    Scenario("unary-100B-c64-shared", "unary 100 B c64, one connection", "unary", 100, 64,
             NATS_AND_RAW, shared=True),
    # natsrpc: `natsrpc serve --workers N`; raw: N server processes in one queue group.
    Scenario("workers-1", "unary 100 B c64, 1 worker", "unary", 100, 64, NATS_AND_RAW, 1),
    Scenario("workers-2", "unary 100 B c64, 2 workers", "unary", 100, 64, NATS_AND_RAW, 2),
)  # fmt: skip
OPEN_SCENARIOS = (
    Scenario("open-unary-100B-50pct", "open loop unary 100 B, 50% of raw c64", "unary", 100, 1,
             OPEN_LOOP, rate_share=0.5),
    Scenario("open-unary-100B-80pct", "open loop unary 100 B, 80% of raw c64", "unary", 100, 1,
             OPEN_LOOP, rate_share=0.8),
)  # fmt: skip
SERVE_TARGET = "bench.app:BenchService"
EVENTS = ("natsrpc", "raw", "faststream")
EVENT_SCENARIOS = (
    Scenario("js-publish-c1", "JetStream publish+ack, c1", "js_publish", 100, 1, EVENTS, 0,
             events=True),
    Scenario("js-publish-c64", "JetStream publish+ack, c64", "js_publish", 100, 64, EVENTS, 0,
             events=True),
    Scenario("js-consume", "JetStream consume+ack", "js_consume", 100, 1, (*EVENTS, PUBLIC_PATH),
             1, events=True),
    Scenario("core-fanout", "core NATS fan-out to 2 subscribers", "core_fanout", 100, 1, EVENTS,
             1, 2, events=True),
)  # fmt: skip
PREFILL = 200_000
"""Events stored before a consume run: more than any contender gets through in one run."""


@dataclass(frozen=True)
class Settings:
    warmup: float
    duration: float
    memory_calls: int
    stream_count: int
    rounds: int
    stubs: Path
    quick: bool
    loops: tuple[str, ...] = ("asyncio",)
    events: bool = True


def _broker(nats: NatsServer) -> psutil.Process:
    if nats.pid is None:
        raise RuntimeError("nats-server is not running")
    return psutil.Process(nats.pid)


class Run:
    """One scenario for one contender: a fresh nats-server, servers, load processes."""

    def __init__(
        self,
        scenario: Scenario,
        contender: str,
        settings: Settings,
        loop: str = "asyncio",
        rate: float | None = None,
    ) -> None:
        self.rate = rate
        """Open loop: calls due per second (the load processes share them)."""
        self.scenario = scenario
        self.contender = contender
        self.runs_as = "natsrpc" if contender in NATSRPC_VARIANTS else contender
        """What the child processes run: a variant is natsrpc under another setting."""
        self.settings = settings
        self.loop = loop
        self.env = dict(os.environ)
        paths = [str(ROOT), str(settings.stubs), os.environ.get("PYTHONPATH", "")]
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        if contender == METRICS_ON:
            self.env[METRICS_ENV] = "1"
        if loop == "asyncio":
            # `natsrpc serve` picks uvloop whenever it is installed, unless told otherwise.
            self.env["NATSRPC_EVENT_LOOP"] = "asyncio"
        if contender == PUBLIC_PATH:
            self.env["NATSRPC_FAST_PATH"] = "0"
        self.servers: list[Child | ServeCommand] = []
        self.loads: list[Child] = []

    def start_servers(self, url: str) -> int:
        name = f"{self.contender} server"
        s = self.scenario
        if s.events:
            for i in range(s.servers):
                args = ["-m", "bench.events", "source", self.runs_as, s.kind,
                        f"--url={url}", f"--size={s.size}", f"--prefill={PREFILL}",
                        f"--loop={self.loop}"]  # fmt: skip
                self.servers.append(Child(f"{self.contender} source {i}", args, self.env))
            for server in self.servers:
                server.expect("ready", timeout=180)  # type: ignore[union-attr]
            return 0
        if s.key.startswith("workers-") and self.runs_as == "natsrpc":
            command = ServeCommand(f"natsrpc serve --workers {s.servers}", SERVE_TARGET, url,
                                   s.servers, self.env)  # fmt: skip
            self.servers.append(command)
            command.wait_ready()
            return 0
        for i in range(s.servers):
            serves = "shared" if s.shared else self.runs_as
            args = ["-m", "bench.serve", serves, url, f"--loop={self.loop}"]
            self.servers.append(Child(f"{name} {i}", args, self.env))
        infos = [server.expect("ready", timeout=60) for server in self.servers]  # type: ignore[union-attr]
        return int(infos[0].get("port", 0))

    def start_loads(
        self,
        url: str,
        grpc_port: int,
        calls: int | None = None,
        stream_count: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        s = self.scenario
        per_process = max(1, s.concurrency // s.load_processes)
        for i in range(s.load_processes):
            if s.events:
                args = ["-m", "bench.events", "load", self.runs_as, s.kind, f"--url={url}",
                        f"--size={s.size}", f"--concurrency={per_process}",
                        f"--loop={self.loop}"]  # fmt: skip
                self.loads.append(Child(f"{self.contender} load {i}", args, self.env))
                continue
            args = [
                "-m",
                "bench.load",
                "shared" if s.shared else self.runs_as,
                s.kind,
                f"--url={url}",
                f"--grpc-port={grpc_port}",
                f"--size={s.size}",
                f"--concurrency={per_process}",
                f"--stream-count={stream_count or self.settings.stream_count}",
                f"--loop={self.loop}",
            ]
            if calls is not None:
                args += [f"--calls={calls}", f"--progress={max(1, calls // 10)}"]
            if self.rate is not None:
                args.append(f"--rate={self.rate / s.load_processes}")
            args += extra
            self.loads.append(Child(f"{self.contender} load {i}", args, self.env))
        for load in self.loads:
            load.expect("warming", timeout=60)

    def finish(self) -> list[int]:
        """Stop every child; the servers' peak RSS in bytes."""
        for load in self.loads:
            load.finish()
        return [server.stop() for server in self.servers]

    def measure(self) -> dict[str, Any]:
        s = self.scenario
        with (
            tempfile.TemporaryDirectory(prefix="natsrpc-bench-js-") as store,
            NatsServer(args=("-js", "-sd", store) if s.events else ()) as nats,
        ):
            broker = _broker(nats)
            try:
                port = self.start_servers(nats.url)
                self.start_loads(nats.url, port)
                windows = [self.window(broker)]
                if s.shared:  # the load process measures natsrpc, then raw, on one connection
                    for load in self.loads:
                        load.expect("warming", timeout=60)
                    windows.append(self.window(broker))
            finally:
                server_peaks = self.finish()
        contenders = s.contenders if s.shared else (self.contender,)
        results = [
            self.result(contender, outcomes, cpu, server_peaks)
            for contender, (outcomes, cpu) in zip(contenders, windows, strict=True)
        ]
        return results[0] if len(results) == 1 else {"shared": results}

    def window(self, broker: psutil.Process) -> tuple[list[Any], dict[str, float]]:
        """Warm up, measure for the duration: the load processes' outcomes and CPU seconds."""
        time.sleep(self.settings.warmup)
        groups = {"server": self.servers, "client": self.loads}
        before = {k: sum(c.cpu_seconds() for c in v) for k, v in groups.items()}
        broker_before = cpu_seconds(broker)
        for load in self.loads:
            load.send("measure")
        time.sleep(self.settings.duration)
        cpu = {k: sum(c.cpu_seconds() for c in v) - before[k] for k, v in groups.items()}
        if self.contender != "grpc":
            cpu["broker"] = cpu_seconds(broker) - broker_before
        for load in self.loads:
            load.send("stop")
        return [load.expect("result", timeout=120) for load in self.loads], cpu

    def result(
        self, contender: str, outcomes: list[Any], cpu: dict[str, float], server_peaks: list[int]
    ) -> dict[str, Any]:
        s = self.scenario
        if self.rate is not None:
            latency: dict[str, Any] = open_loop_latency(outcomes, self.rate)
        else:
            latencies = sorted(x for o in outcomes for x in o["latencies_ns"])
            latency = {
                "p50_us": _percentile(latencies, 0.50) / 1000,
                "p99_us": _percentile(latencies, 0.99) / 1000,
                "p999_us": _percentile(latencies, 0.999) / 1000,
            }
        count = sum(int(o["count"]) for o in outcomes)
        per_10k = 10_000 / count if count else 0.0
        return {
            "scenario": s.key,
            "contender": contender,
            "loop": self.loop,
            "status": "ok",
            "unit": s.unit,
            "count": count,
            "rate": sum(o["count"] / o["seconds"] for o in outcomes if o["seconds"]),
            **latency,
            "cpu_seconds": cpu,
            "cpu_s_per_10k": (cpu["server"] + cpu["client"]) * per_10k,
            "broker_cpu_s_per_10k": cpu.get("broker", 0.0) * per_10k,
            "cpu_us_per_call": {k: v * 1e6 / count if count else 0.0 for k, v in cpu.items()},
            "peak_rss_mib": {
                "server": [round(b / 2**20, 1) for b in server_peaks],
                "client": [round(o["peak_rss"] / 2**20, 1) for o in outcomes],
            },
        }


def open_loop_latency(outcomes: list[Any], rate: float) -> dict[str, Any]:
    """Percentiles from the load processes' merged histograms, and whether the rate held."""
    from natsrpc.cli.histogram import Histogram

    latency, lag = Histogram(), Histogram()
    errors: dict[str, int] = {}
    for outcome in outcomes:
        latency.merge(Histogram.from_dict(outcome["latency"]))
        lag.merge(Histogram.from_dict(outcome["lag"]))
        for code, n in outcome["errors"].items():
            errors[code] = errors.get(code, 0) + n
    achieved = sum(o["count"] / o["seconds"] for o in outcomes if o["seconds"])
    return {
        "offered_rate": rate,
        "p50_us": latency.percentile(0.50) / 1000,
        "p99_us": latency.percentile(0.99) / 1000,
        "p999_us": latency.percentile(0.999) / 1000,
        "max_us": latency.max / 1000,
        "errors": errors,
        # Calls due in the window over the time to the last one's end: below the offered
        # rate when the contender fell behind (its calls finished after the window).
        "sustained": achieved >= SUSTAINED_SHARE * rate and not errors,
        "generator": {
            "busy": [round(float(o["busy"]), 3) for o in outcomes],
            "lag_p99_us": lag.percentile(0.99) / 1000,
        },
    }


SUSTAINED_SHARE = 0.97
"""An open-loop contender that completed this share of the offered rate kept up with it."""


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


SLOW_READER_MESSAGES = 3000
SLOW_READER_DELAY_MS = 1.0


def slow_reader_check(settings: Settings) -> dict[str, Any]:
    """RSS of a natsrpc server streaming 64 KiB messages to a reader slower than it.

    Flow control must hold the server to the reader's window (16 messages):
    neither side may buffer what the handler could produce.
    """
    size = 65536
    scenario = Scenario("slow-reader", "slow reader", "slow_stream", size, 1, ("natsrpc",))
    run = Run(scenario, "natsrpc", settings)
    messages = SLOW_READER_MESSAGES
    with NatsServer() as nats:
        try:
            run.start_servers(nats.url)
            delay = f"--read-delay={SLOW_READER_DELAY_MS / 1000}"
            run.start_loads(nats.url, 0, messages, messages * 100, (delay,))
            time.sleep(max(settings.warmup, 1.0))
            server, client = run.servers[0].ps, run.loads[0].ps
            load = run.loads[0]
            samples = [(0, server.memory_info().rss, client.memory_info().rss)]
            load.send("measure")
            while len(samples) <= 10:
                done = int(load.expect("progress", timeout=300))
                samples.append((done, server.memory_info().rss, client.memory_info().rss))
            load.expect("done", timeout=300)
            load.expect("result", timeout=60)
        finally:
            run.finish()
    return {
        "messages": messages,
        "size": size,
        "read_delay_ms": SLOW_READER_DELAY_MS,
        "server_growth_mib": (samples[-1][1] - samples[0][1]) / 2**20,
        "client_growth_mib": (samples[-1][2] - samples[0][2]) / 2**20,
        "samples_mib": [
            [n, round(srv / 2**20, 2), round(cli / 2**20, 2)] for n, srv, cli in samples
        ],
    }


def projection(results: list[dict[str, Any]], cores: int = 16) -> dict[str, Any] | None:
    """Workers on a larger machine, projected from the measured CPU per call of one worker."""
    one = next(
        (
            r
            for r in results
            if r["scenario"] == "workers-1"
            and r["contender"] == "natsrpc"
            and r["status"] == "ok"
            and r.get("loop") == "asyncio"
        ),
        None,
    )
    if one is None:
        return None
    cpu = one["cpu_us_per_call"]
    server, client, broker = cpu["server"], cpu["client"], cpu.get("broker", 0.0)
    per_worker = 1e6 / server
    # nats-server on the same machine; the callers elsewhere.
    with_broker = cores * 1e6 / (server + broker)
    workers = cores * server / (server + broker)
    text = (
        f"Projection to {cores} cores (from workers-1, asyncio): a natsrpc worker used "
        f"{server:.1f} us of CPU per unary call and nats-server {broker:.1f} us, so one worker "
        f"saturates near {per_worker:,.0f} calls/s. With nats-server on the same {cores} cores "
        f"and the callers elsewhere, about {workers:.0f} workers would use the machine, for "
        f"roughly {with_broker:,.0f} calls/s; callers on the same machine would need "
        f"{client:.1f} us each as well ({cores * 1e6 / (server + broker + client):,.0f} calls/s "
        f"in all). A projection from CPU cost alone: it ignores nats-server's own scaling, "
        f"memory bandwidth and the network."
    )
    return {
        "cores": cores,
        "server_us_per_call": server,
        "client_us_per_call": client,
        "broker_us_per_call": broker,
        "calls_per_worker": per_worker,
        "workers": workers,
        "calls_per_second": with_broker,
        "text": text,
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
    versions = {}
    for package in ("nats-py", "grpcio", "protobuf", "natsrpc", "uvloop", "faststream"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
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
    every = SCENARIOS + (EVENT_SCENARIOS if settings.events else ())
    chosen = [s for s in every if not only or any(word in s.key for word in only)]
    results = _measure_rounds(_pairs(chosen, settings), settings, {})
    opened = [s for s in OPEN_SCENARIOS if not only or any(word in s.key for word in only)]
    capacity: dict[str, float] = {}
    if opened:
        capacity = {loop: _raw_capacity(results, settings, loop) for loop in settings.loops}
        results += _measure_rounds(_pairs(opened, settings), settings, capacity)
    memory = None
    if not only or "memory" in only:
        print(f"  memory check: natsrpc server over {settings.memory_calls:,} calls", flush=True)
        try:
            memory = memory_check(settings)
        except ChildError as error:
            print(_indent(str(error)))
    slow = None
    if not only or "memory" in only:
        print("  slow reader: natsrpc server streaming to a slow reader", flush=True)
        try:
            slow = slow_reader_check(settings)
        except ChildError as error:
            print(_indent(str(error)))
    return {
        "results": results,
        "open_loop_capacity": capacity,
        "memory": memory,
        "slow_reader": slow,
        "projection": projection(results),
    }


Pair = tuple[Scenario, str, str]


def _pairs(scenarios: list[Scenario], settings: Settings) -> list[Pair]:
    return [
        (scenario, contender, loop)
        for scenario in scenarios
        for loop in settings.loops
        for contender in scenario.contenders
    ]


def _raw_capacity(results: list[dict[str, Any]], settings: Settings, loop: str) -> float:
    """raw nats-py's closed-loop unary c64 rate under ``loop``: from this run, else measured."""
    for r in results:
        if (r["scenario"], r["contender"], r.get("loop"), r["status"]) == (
            CAPACITY_SCENARIO,
            "raw",
            loop,
            "ok",
        ):
            return float(r["rate"])
    scenario = next(s for s in SCENARIOS if s.key == CAPACITY_SCENARIO)
    print(f"  raw nats-py capacity, {scenario.title} {loop}", end=" ", flush=True)
    rate = float(Run(scenario, "raw", settings, loop).measure()["rate"])
    print(f"{rate:>10,.0f} calls/s", flush=True)
    return rate


def _measure_rounds(
    pairs: list[Pair], settings: Settings, capacity: dict[str, float]
) -> list[dict[str, Any]]:
    """Each pair ``settings.rounds`` times, interleaved; the best round of each is kept.

    Best: the fastest (closed loop) or the lowest p99 (open loop, at a fixed rate).
    A shared-connection scenario is one run that measures all its contenders.
    """
    rounds: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    final: dict[tuple[str, str, str], dict[str, Any]] = {}
    for number in range(1, settings.rounds + 1):
        if settings.rounds > 1:
            print(f"round {number} of {settings.rounds}", flush=True)
        for scenario, contender, loop in pairs:
            key = (scenario.key, contender, loop)
            if key in final or (scenario.shared and contender != scenario.contenders[0]):
                continue  # failed in an earlier round, or measured with the first contender
            rate = None
            if scenario.rate_share is not None:
                rate = scenario.rate_share * capacity[loop]
            print(f"  {scenario.title:32} {contender:8} {loop:8}", end=" ", flush=True)
            try:
                measured = Run(scenario, contender, settings, loop, rate).measure()
            except ChildError as error:
                for name in scenario.contenders if scenario.shared else (contender,):
                    final[(scenario.key, name, loop)] = {
                        "scenario": scenario.key, "contender": name, "loop": loop,
                        "unit": scenario.unit, "status": "failed", "error": str(error),
                    }  # fmt: skip
                print(f"failed\n{_indent(str(error))}")
                continue
            for result in measured.get("shared", [measured]):
                rounds.setdefault((scenario.key, result["contender"], loop), []).append(result)
                print(_progress(result, scenario), end="  " if scenario.shared else "\n")
            print("" if not scenario.shared else "\n", end="", flush=True)
    results = []
    for scenario, contender, loop in pairs:
        key = (scenario.key, contender, loop)
        if key in final:
            results.append(final[key])
        elif key in rounds:
            runs = rounds[key]
            if scenario.rate_share is None:
                best = max(runs, key=lambda r: float(r["rate"]))
            else:
                best = min(runs, key=lambda r: float(r["p99_us"]))
            results.append(
                {**best, "round_rates": [r["rate"] for r in runs],
                 "round_p99_us": [r["p99_us"] for r in runs]}
            )  # fmt: skip
    return results


def _progress(result: dict[str, Any], scenario: Scenario) -> str:
    text = f"{result['rate']:>10,.0f} {scenario.unit}  p50 {result['p50_us']:,.0f} us"
    if scenario.shared:
        text = f"{result['contender']}: " + text.strip()
    if "offered_rate" in result:
        text += f"  p99 {result['p99_us']:,.0f} us  p99.9 {result['p999_us']:,.0f} us"
        text += "" if result["sustained"] else f"  (offered {result['offered_rate']:,.0f}/s)"
    return text


def _events_available() -> bool:
    """natsrpc.events and FastStream importable: the events scenarios can run."""
    return all(importlib.util.find_spec(name) for name in ("natsrpc.events", "faststream"))


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 1 s per measurement")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per run (default 0.75)")
    parser.add_argument("--duration", type=float, help="seconds measured per run (default 2)")
    parser.add_argument("--rounds", type=int, help="runs of each pair, best kept (default 2)")
    parser.add_argument("--memory-calls", type=int, help="calls in the memory check (100000)")
    parser.add_argument(
        "--only", nargs="+", metavar="WORD", help="run scenarios whose key contains WORD"
    )
    parser.add_argument(
        "--loops", nargs="+", choices=LOOPS, default=list(LOOPS), help="event loops (both)"
    )
    parser.add_argument("--no-events", action="store_true", help="skip the events scenarios")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    with tempfile.TemporaryDirectory(prefix="natsrpc-bench-") as tmp:
        generated = stubs.generate(Path(tmp))
        settings = Settings(
            warmup=args.warmup if args.warmup is not None else (0.5 if quick else 0.75),
            duration=args.duration if args.duration is not None else (1.0 if quick else 2.0),
            memory_calls=args.memory_calls or (20_000 if quick else 100_000),
            stream_count=1000,
            rounds=args.rounds or (1 if quick else 2),
            stubs=generated.directory,
            quick=quick,
            loops=tuple(args.loops),
            events=not args.no_events and _events_available(),
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
            "loops": list(settings.loops),
            "quick": quick,
            "wall_s": round(time.monotonic() - started, 1),
        },
        "scenarios": [
            {
                "key": s.key,
                "title": s.title,
                "servers": s.servers,
                "unit": s.unit,
                "open_loop": s.rate_share is not None,
            }
            for s in SCENARIOS + EVENT_SCENARIOS + OPEN_SCENARIOS
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
