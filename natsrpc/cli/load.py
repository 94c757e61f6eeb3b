"""``natsrpc bench METHOD``: load-test a running service, open-loop (``--rate``) or closed-loop.

The method, its schema (reflection, ``--proto``, ``--protoset``) and its ``-d`` body
are found as ``natsrpc call`` finds them. With ``--processes N`` the load comes
from N processes, each with its own connection and its share of the rate; their
histograms are merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any

import click

from natsrpc.cli import call, load_report, schema
from natsrpc.cli.connection import ConnectionOptions, connect, connection_options, options_from
from natsrpc.cli.load_drivers import Load, Plan, clock, method_calls
from natsrpc.cli.output import CliError
from natsrpc.cli.permissions import parse_duration
from natsrpc.client.base import Client
from natsrpc.server.lifecycle import run_in_new_loop
from natsrpc.spec import MethodKind

DEFAULT_DURATION = 10.0
DEFAULT_TIMEOUT = 10.0
START_DELAY = 0.2
"""Seconds between every process being ready and the first call: time to hear "go"."""
READY_TIMEOUT = 60.0


def _seconds(context: click.Context, param: click.Parameter, text: str | None) -> float | None:
    """A duration: ``10s``, ``500ms``, ``2m``, or a bare number of seconds."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = parse_duration(text) / 1e9
    if not 0 <= seconds < float("inf"):
        raise CliError(f"--{param.name} {text}: give a duration like 10s, 500ms or 2m")
    return seconds


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate < float("inf"):
        raise CliError(f"--rate {text}: give calls per second, a number above zero")
    return rate


@dataclass(frozen=True)
class Job:
    """Everything one load process needs; picklable, for processes started with spawn."""

    options: ConnectionOptions
    method: str
    local: schema.LocalSchema
    text: str
    """The ``-d`` body, already read from its file or stdin."""
    plan: Plan
    concurrency_given: bool = False


async def prepare(job: Job) -> tuple[Any, MethodKind, Load]:
    """Connect and build the load: the connection, the method's kind, the ``Load`` to run."""
    nc = await connect(job.options)
    try:
        prefix = job.options.subject_prefix()
        pool, spec = await schema.load_method(nc, job.method, job.local, prefix)
        open_loop_workers = job.plan.rate is not None and job.concurrency_given
        if open_loop_workers and spec.kind is not MethodKind.BIDI_STREAMING:
            raise CliError("--rate and --concurrency exclude each other, but for bidi methods")
        if spec.kind in (MethodKind.UNARY, MethodKind.SERVER_STREAMING):
            requests = [call.parse_request(spec, pool, job.text)]
        else:
            lines = [line for line in job.text.splitlines() if line.strip()] or ["{}"]
            requests = [call.parse_request(spec, pool, line) for line in lines]
    except BaseException:
        await nc.close()
        raise
    client = Client(nc, subject_prefix=job.options.subject_prefix())
    call_once, open_stream = method_calls(client, spec, requests, job.plan.timeout)
    return nc, spec.kind, Load(job.plan, call_once, open_stream, requests)


async def _close(nc: Any) -> None:
    with contextlib.suppress(Exception):
        await nc.close()


async def run_here(job: Job) -> tuple[MethodKind, list[dict[str, Any]]]:
    nc, kind, load = await prepare(job)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        # The first Ctrl-C ends the window and keeps what it measured; one in the
        # warm-up, or a second one, gives up.
        if load.tally.interrupted or not load.interrupt():
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        tally = await load.run(clock() + int(START_DELAY * 1e9))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await _close(nc)
    return kind, [tally.to_dict()]


def _child(job: Job, channel: Connection) -> None:
    """A load process: connect, say ``ready``, wait for the start time, load, report."""
    # Ctrl-C goes to the whole process group; the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def main() -> None:
        nc, kind, load = await prepare(job)
        try:
            channel.send(("ready", kind.name))
            start_at = await asyncio.to_thread(channel.recv)
            start = clock() + int((start_at - time.time()) * 1e9)
            loop = asyncio.get_running_loop()

            def hear_stop() -> None:
                with contextlib.suppress(EOFError, OSError):
                    if channel.recv() == "stop":
                        loop.call_soon_threadsafe(load.interrupt)

            # A daemon thread: one still waiting for "stop" never holds the process up.
            threading.Thread(target=hear_stop, daemon=True).start()
            channel.send(("done", (await load.run(start)).to_dict()))
        finally:
            await _close(nc)

    try:
        run_in_new_loop(main())
    except click.ClickException as error:
        channel.send(("error", error.format_message()))
    except Exception as error:
        channel.send(("error", f"a load process failed: {error!r}"))


def run_processes(jobs: list[Job]) -> tuple[MethodKind, list[dict[str, Any]]]:
    context = multiprocessing.get_context("spawn")
    channels: list[Connection] = []
    processes = []
    for job in jobs:
        mine, theirs = context.Pipe()
        process = context.Process(target=_child, args=(job, theirs), daemon=True)
        process.start()
        theirs.close()
        channels.append(mine)
        processes.append(process)
    try:
        kinds = _collect(channels, processes, "ready", READY_TIMEOUT)
        start_at = time.time() + START_DELAY
        for channel in channels:
            channel.send(start_at)
        plan = jobs[0].plan
        longest = (plan.warmup or 0) + (plan.duration or 0) + (plan.timeout or DEFAULT_TIMEOUT)
        # Calls-bounded runs end when their calls are done, however long that takes.
        limit = None if plan.calls else longest * 3
        try:
            documents = _collect(channels, processes, "done", limit)
        except KeyboardInterrupt:
            # As in one process: the first Ctrl-C ends the window, a second gives up.
            for channel in channels:
                with contextlib.suppress(OSError):
                    channel.send("stop")
            documents = _collect(channels, processes, "done", (plan.timeout or 0) + READY_TIMEOUT)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(5)
    return MethodKind[kinds[0]], documents


def _collect(
    channels: list[Connection], processes: list[Any], event: str, timeout: float | None
) -> list[Any]:
    """One ``event`` message from every process, in order; a failure is a CliError."""
    got: dict[int, Any] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    while len(got) < len(channels):
        waiting = [c for i, c in enumerate(channels) if i not in got]
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait(waiting + [p.sentinel for i, p in enumerate(processes) if i not in got], left)
        if not ready:
            raise CliError(f"the load processes did not report {event!r} within {timeout:g}s")
        for i, channel in enumerate(channels):
            if i in got or not channel.poll():
                continue
            name, data = channel.recv()
            if name == "error":
                raise CliError(data)
            got[i] = data
        for i, process in enumerate(processes):
            if i not in got and not process.is_alive() and not channels[i].poll():
                raise CliError(f"load process {i + 1} exited (status {process.exitcode})")
    return [got[i] for i in range(len(channels))]


def split(plan: Plan, processes: int) -> list[Plan]:
    """Each process's share: rate, calls and workers divided, first calls interleaved."""
    plans = []
    for k in range(processes):
        calls = None
        if plan.calls is not None:
            calls = plan.calls // processes + (1 if k < plan.calls % processes else 0)
        # Each process needs one worker (or stream) at least, so -c below P becomes P.
        share = plan.concurrency // processes + (1 if k < plan.concurrency % processes else 0)
        concurrency = max(1, share)
        rate = None if plan.rate is None else plan.rate / processes
        offset = 0.0 if plan.rate is None else k / plan.rate
        plans.append(replace(plan, rate=rate, calls=calls, concurrency=concurrency, offset=offset))
    return plans


@click.command("bench")
@click.argument("method")
@connection_options
@click.option(
    "-d", "--data", metavar="JSON|@FILE|@-",
    help="The request as JSON, @FILE, or @- for stdin. For client-streaming and bidi "
    "methods, one message per line, sent in turn.",
)  # fmt: skip
@click.option(
    "--rate", metavar="R",
    help="Open loop: R calls per second (bidi: messages), due by the clock whatever the "
    "service does; latency counts from each call's due time.",
)  # fmt: skip
@click.option(
    "-c", "--concurrency", type=click.IntRange(min=1), metavar="C",
    help="Closed loop: C calls in flight, each sent when the last returned [default: 1]. "
    "Bidi: C streams, also with --rate.",
)  # fmt: skip
@click.option(
    "--duration", callback=_seconds, metavar="DURATION", help="How long to measure [default: 10s]."
)
@click.option("--calls", type=click.IntRange(min=1), metavar="N", help="Measure N calls instead.")
@click.option(
    "--warmup", callback=_seconds, default="1s", show_default=True, metavar="DURATION",
    help="Load sent before measuring, then not counted.",
)  # fmt: skip
@click.option(
    "--timeout", type=float, metavar="SECONDS",
    help=f"Deadline of each call [default: {DEFAULT_TIMEOUT:g}; bidi streams: none].",
)  # fmt: skip
@click.option(
    "--processes", type=click.IntRange(min=1), default=1, show_default=True, metavar="P",
    help="Load processes, each with its own connection and 1/P of the load.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_command(
    method: str,
    data: str | None,
    rate: str | None,
    concurrency: int | None,
    duration: float | None,
    calls: int | None,
    warmup: float,
    timeout: float | None,
    processes: int,
    as_json: bool,
    protos: tuple[str, ...] = (),
    includes: tuple[str, ...] = (),
    protosets: tuple[str, ...] = (),
    **kwargs: Any,
) -> None:
    """Load-test METHOD (pkg.Service/Method): latency percentiles, histogram, errors by code.

    With --rate the calls are due by the clock (open loop), so queueing shows
    in the latencies; with --concurrency they are sent back to back (closed
    loop). Server streams report messages/s, bidi streams the round trip of
    each message (the service must answer each message with one). A warning
    says when the load generator itself could not keep the rate.
    """
    if timeout is not None and not timeout > 0:
        raise CliError(f"--timeout {timeout:g}: give seconds, a number above zero")
    if duration is not None and calls is not None:
        raise CliError("--duration and --calls exclude each other")
    if duration == 0:
        raise CliError("--duration 0: measure for longer than that")
    schema.split_method(method)
    options = options_from(kwargs)
    local = schema.LocalSchema(protos, includes, protosets)
    plan = Plan(
        rate=None if rate is None else _rate(rate),
        concurrency=concurrency or 1,
        warmup=warmup,
        duration=None if calls is not None else (duration or DEFAULT_DURATION),
        calls=calls,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
    )
    job = Job(options, method, local, call.request_text(data), plan, concurrency is not None)
    try:
        if processes == 1:
            kind, tallies = run_in_new_loop(run_here(job))
        else:
            kind, tallies = run_processes([replace(job, plan=p) for p in split(plan, processes)])
    except KeyboardInterrupt:
        raise call.Interrupted("interrupted") from None
    document = load_report.build(method, kind, plan, processes, tallies)
    if as_json:
        load_report.echo_document(document)
    else:
        click.echo(load_report.table(document))
    for warning in document["generator"]["warnings"]:
        click.echo(f"warning: {warning}", err=True)
