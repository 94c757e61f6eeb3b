"""``natsrpc serve MODULE:ATTR [--workers N]``: serve services in one or more processes.

Workers are separate processes, each with its own NATS connection, all in the
services' queue groups, so NATS spreads the calls over them; no port sharing is
needed. The parent only supervises: it restarts a worker that dies, and on
SIGTERM or SIGINT it passes SIGTERM on and waits for every worker's graceful
stop (each finishes the calls it has taken; see natsrpc.serve_until_signal).

With ``--metrics-port`` a single process serves its probes there; with workers
the supervisor does, joining what each worker serves on a port of its own
(natsrpc.metrics.workers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import natsrpc
from natsrpc.cli.connection import ConnectionOptions, connect, options_from
from natsrpc.cli.output import CliError
from natsrpc.spec import ServiceSpec

WORKER_ENV = "NATSRPC_SERVE_WORKER"
"""Set in a worker's environment: its number and its connection options, as JSON.

The environment, unlike the command line, is not visible to other users, and
the options may hold a password.
"""
RESTART_BACKOFF = 1.0
"""Seconds a worker that died young waits before its restart, so a crash loop cannot spin."""
ORPHAN_CHECK_INTERVAL = 1.0
"""Seconds between a worker's checks that its supervisor still runs."""
STOP_TIMEOUT = 60.0
"""Seconds the parent waits for workers to stop before it kills them."""


def command(target: str, app_dir: str, workers: int, kwargs: dict[str, Any]) -> None:
    """``natsrpc serve``, as a worker when the supervisor started this process."""
    worker = worker_from_environment()
    if worker is not None:
        serve_here(target, app_dir, worker.options, worker)
        return
    metrics = metrics_address(kwargs)
    options = options_from(kwargs)
    if workers == 1:
        serve_here(target, app_dir, options, metrics=metrics)
        return
    raise SystemExit(supervise(target, app_dir, options, workers, metrics))


def load_target(target: str, app_dir: str) -> Any:
    """The object ``MODULE:ATTR`` names, importing MODULE with ``app_dir`` on sys.path."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise CliError(f"{target!r} is not MODULE:ATTR (e.g. server:Greeter)")
    directory = str(Path(app_dir).resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise CliError(f"cannot import {module_name}: {error}") from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CliError(f"{module_name} has no attribute {attribute}") from None
    return found


async def instantiate(target: Any) -> list[natsrpc.stubs.Service]:
    """Service instances from a service class, an instance, or a (sync or async) factory."""
    if isinstance(target, type) and isinstance(
        getattr(target, "_natsrpc_service", None), ServiceSpec
    ):
        made: Any = target()
    elif isinstance(getattr(type(target), "_natsrpc_service", None), ServiceSpec):
        made = target
    elif callable(target):
        made = target()
        if inspect.isawaitable(made):
            made = await made
    else:
        raise CliError(f"{target!r} is not a service class, a service or a factory")
    services = list(made) if isinstance(made, (list, tuple)) else [made]
    for service in services:
        if not isinstance(getattr(type(service), "_natsrpc_service", None), ServiceSpec):
            raise CliError(f"the factory returned {service!r}, which is not a natsrpc service")
    if not services:
        raise CliError("the factory returned no services")
    return services


@dataclasses.dataclass(frozen=True)
class Worker:
    """What a worker process learns from its supervisor."""

    index: int
    options: ConnectionOptions
    supervisor: int
    """The supervisor's process id: when it is no longer the parent, the worker stops."""
    metrics_dir: str | None = None
    """Where the worker writes the port of its probes, when the supervisor serves metrics."""


@dataclasses.dataclass(frozen=True)
class MetricsAddress:
    host: str
    port: int


def metrics_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--metrics-port`` and ``--metrics-host`` for ``serve``."""
    command = click.option(
        "--metrics-host", default="127.0.0.1", show_default=True, metavar="HOST",
        help="Address of --metrics-port; 0.0.0.0 for every interface.",
    )(command)  # fmt: skip
    return click.option(
        "--metrics-port", type=click.IntRange(0, 65535), metavar="PORT",
        help="Serve /metrics (Prometheus), /healthz and /readyz on this port.",
    )(command)  # fmt: skip


def metrics_address(kwargs: dict[str, Any]) -> MetricsAddress | None:
    """Pop the metrics options out of a command's keyword arguments."""
    host, port = kwargs.pop("metrics_host"), kwargs.pop("metrics_port")
    return None if port is None else MetricsAddress(host, port)


def _open(open_probes: Callable[[], Any]) -> Any:
    try:
        return open_probes()
    except RuntimeError as error:  # natsrpc.metrics.ProbesError: the port is in use
        raise CliError(str(error)) from None


def _metrics_module() -> Any:
    try:
        import natsrpc.metrics.workers
    except ImportError as error:
        raise CliError(
            f"--metrics-port needs the otel extra (pip install 'natsrpc[otel]'): {error}"
        ) from None
    return natsrpc.metrics


def _probes(worker: Worker | None, metrics: MetricsAddress | None) -> Any:
    if worker is not None and worker.metrics_dir is not None:
        module = _metrics_module()
        probes = _open(lambda: module.open_probes("127.0.0.1", 0))
        module.workers.write_port(worker.metrics_dir, worker.index, probes.port)
        return probes
    if metrics is not None:
        module = _metrics_module()
        return _open(lambda: module.open_probes(metrics.host, metrics.port))
    return None


def serve_here(
    target: str,
    app_dir: str,
    options: ConnectionOptions,
    worker: Worker | None = None,
    metrics: MetricsAddress | None = None,
) -> None:
    """Serve in this process until SIGINT or SIGTERM, then stop gracefully."""
    loaded = load_target(target, app_dir)
    probes = _probes(worker, metrics)
    names: list[str] = []
    watchers: list[asyncio.Task[None]] = []

    async def build() -> natsrpc.Server:
        if worker is not None:
            # Kept in a list: the loop holds only weak references to tasks.
            watch = asyncio.get_running_loop().create_task(_stop_when_orphaned(worker.supervisor))
            watchers.append(watch)
        services = await instantiate(loaded)
        nc = await connect(options, allow_reconnect=True, max_reconnect_attempts=-1)
        server = natsrpc.Server(nc)
        for service in services:
            server.add_service(service, subject_prefix=options.subject_prefix() or None)
            names.append(type(service)._natsrpc_service.full_name)
        if probes is not None:
            probes.watch(server)
        return server

    def ready() -> None:
        pid = os.getpid()
        who = f"worker {worker.index} (pid {pid})" if worker is not None else f"pid {pid}"
        print(f"{who}: serving {', '.join(names)} on {options.server}", flush=True)

    try:
        natsrpc.run(build, ready=ready)
    finally:
        if probes is not None:
            probes.close()


async def _stop_when_orphaned(supervisor: int) -> None:
    # A worker whose supervisor was killed (SIGKILL, OOM) must not serve on unsupervised:
    # it stops the graceful way, as if the supervisor had sent SIGTERM.
    while os.getppid() == supervisor:
        await asyncio.sleep(ORPHAN_CHECK_INTERVAL)
    os.kill(os.getpid(), signal.SIGTERM)


async def _reachable(options: ConnectionOptions) -> None:
    nc = await connect(options)
    await nc.close()


def supervise(
    target: str,
    app_dir: str,
    options: ConnectionOptions,
    workers: int,
    metrics: MetricsAddress | None = None,
) -> int:
    """Run ``workers`` worker processes until a signal; restart any that die."""
    # Fail on a bad MODULE:ATTR, or a server that cannot be reached, here, once, rather
    # than in a restart loop.
    load_target(target, app_dir)
    asyncio.run(_reachable(options))
    if metrics is None:
        return _supervise(target, app_dir, options, workers, None)
    workers_module = _metrics_module().workers
    with tempfile.TemporaryDirectory(prefix="natsrpc-serve-") as directory:
        probes = _open(
            lambda: workers_module.WorkerProbes(metrics.host, metrics.port, directory, workers)
        )
        try:
            return _supervise(target, app_dir, options, workers, directory)
        finally:
            probes.close()


def _supervise(
    target: str, app_dir: str, options: ConnectionOptions, workers: int, metrics_dir: str | None
) -> int:
    stopping: list[signal.Signals] = []

    def on_signal(number: int, frame: object) -> None:
        if stopping:
            # A second signal: stop waiting for graceful stops.
            for process in processes.values():
                if process.poll() is None:
                    process.kill()
        stopping.append(signal.Signals(number))

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: dict[int, subprocess.Popen[bytes]] = {}
    started: dict[int, float] = {}
    try:
        for index in range(1, workers + 1):
            processes[index] = _spawn(target, app_dir, options, index, metrics_dir)
            started[index] = time.monotonic()
        while not stopping:
            for index, process in list(processes.items()):
                code = process.poll()
                if code is None or stopping:
                    continue
                _log(f"worker {index} (pid {process.pid}) exited with {_status(code)}; restarting")
                if time.monotonic() - started[index] < RESTART_BACKOFF:
                    time.sleep(RESTART_BACKOFF)
                processes[index] = _spawn(target, app_dir, options, index, metrics_dir)
                started[index] = time.monotonic()
            time.sleep(0.05)
        _log(f"received {stopping[0].name}; stopping {workers} workers gracefully")
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        failed = 0
        for index, process in processes.items():
            try:
                code = process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code != 0:
                failed += 1
                _log(f"worker {index} (pid {process.pid}) stopped with {_status(code)}")
        return 1 if failed else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(
    target: str, app_dir: str, options: ConnectionOptions, index: int, metrics_dir: str | None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env[WORKER_ENV] = json.dumps(
        {
            "index": index,
            "options": dataclasses.asdict(options),
            "supervisor": os.getpid(),
            "metrics_dir": metrics_dir,
        }
    )
    command = [sys.executable, "-m", "natsrpc.cli", "serve", target, "--app-dir", app_dir]
    # Its own process group: a terminal's Ctrl-C reaches the parent alone, which
    # then stops the workers in order instead of all of them racing at once.
    return subprocess.Popen(command, env=env, start_new_session=True)


def worker_from_environment() -> Worker | None:
    """What the supervisor told this process, when it is a serve worker."""
    raw = os.environ.get(WORKER_ENV)
    if not raw:
        return None
    document = json.loads(raw)
    return Worker(
        int(document["index"]),
        ConnectionOptions(**document["options"]),
        int(document["supervisor"]),
        document.get("metrics_dir"),
    )


def _status(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def _log(text: str) -> None:
    print(f"natsrpc serve: {text}", file=sys.stderr, flush=True)
