"""The load side of one scenario, run as its own process.

``python -m bench.load CONTENDER KIND ...`` connects, starts ``--concurrency``
workers that call as fast as they can, and writes ``warming``. Calls are
recorded only between the orchestrator's ``measure`` and ``stop`` commands (or,
with ``--calls N``, from ``measure`` until N calls completed, with a
``progress`` event every ``--progress`` calls). It then writes
``result {"count", "seconds", "latencies_ns", "peak_rss"}``.

With ``--rate R`` the load is open-loop instead (unary only): calls are due by
the clock, timed from their due time, and the result carries merged-ready
histograms (``latency``, ``lag``), ``errors`` and the generator's ``busy`` share.
``shared`` measures natsrpc, then raw nats-py, over one connection in this one
process (the server side serves both on one connection too).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import bench_pb2

from bench.common import (
    CALL_TIMEOUT,
    CONTENDERS,
    SHARED_RAW_SUBJECT,
    STREAM_TIMEOUT,
    SUBJECT_PREFIX,
    emit,
    peak_rss_bytes,
    read_command,
)
from bench.loops import LOOPS, run

KINDS = ("unary", "server_stream", "bidi", "slow_stream")

UnaryCall = Callable[[], Awaitable[Any]]
StreamOpener = Callable[[], AsyncIterable[Any]]
ChatOpener = Callable[[], Any]
"""Opens a bidi call without requests: the caller writes and reads."""


@dataclass
class State:
    target: int | None = None
    """Stop after this many measured calls (the memory check); None: at ``stop``."""
    progress_every: int = 10_000
    measuring: bool = False
    stopping: bool = False
    latencies: list[int] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, nanoseconds: int) -> None:
        latencies = self.latencies
        latencies.append(nanoseconds)
        if self.target is not None:
            count = len(latencies)
            if count % self.progress_every == 0:
                emit("progress", count)
            if count >= self.target:
                self.measuring = False
                self.stopping = True
                self.reached.set()


async def unary_worker(call: UnaryCall, state: State) -> None:
    clock = time.perf_counter_ns
    while not state.stopping:
        started = clock()
        await call()
        if state.measuring:
            state.record(clock() - started)


async def server_stream_worker(open_stream: StreamOpener, state: State) -> None:
    """Per-message latency: the gap before each message (the first: since the request)."""
    clock = time.perf_counter_ns
    while not state.stopping:
        last = clock()
        async for _ in open_stream():
            now = clock()
            if state.measuring:
                state.record(now - last)
            last = now


async def slow_stream_worker(open_stream: StreamOpener, state: State, delay: float) -> None:
    """A reader slower than the server: one message every ``delay`` seconds."""
    async for _ in open_stream():
        await asyncio.sleep(delay)
        if state.measuring:
            state.record(0)
        if state.stopping:
            break


async def bidi_worker(open_chat: ChatOpener, message: Any, state: State) -> None:
    """Ping-pong on one long stream: write one message, read its echo, repeat.

    Both contenders use their call object's ``write()``/``read()``, the API a
    ping-pong program would use (a request iterator would add a task hop per
    message on either side).
    """
    call = open_chat()
    clock = time.perf_counter_ns
    while not state.stopping:
        started = clock()
        await call.write(message)
        await call.read()
        if state.measuring:
            state.record(clock() - started)
    await call.done_writing()
    await call.read()


@dataclass
class Target:
    """How one contender is called; ``close`` releases its connection."""

    unary: UnaryCall | None = None
    server_stream: StreamOpener | None = None
    chat: ChatOpener | None = None
    close: Callable[[], Awaitable[None]] | None = None


class RawEcho:
    """The bidi floor in raw nats-py: publish each message with a reply inbox, read the echo
    from one inbox subscription; the same parse and build as natsrpc's stream messages."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.inbox = nc.new_inbox()
        self.subject = SUBJECT_PREFIX + "Chat"
        self.answer: asyncio.Future[bytes] | None = None
        self.sub: Any = None

    async def on_answer(self, msg: Any) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(msg.data)

    async def write(self, message: Any) -> None:
        if self.sub is None:
            self.sub = await self.nc.subscribe(self.inbox, cb=self.on_answer)
        self.answer = asyncio.get_running_loop().create_future()
        await self.nc.publish(self.subject, message.SerializeToString(), reply=self.inbox)

    async def read(self) -> Any:
        assert self.answer is not None
        return bench_pb2.Payload.FromString(await self.answer)

    async def done_writing(self) -> None:
        self.answer = asyncio.get_running_loop().create_future()
        self.answer.set_result(b"")  # the stream's end: bidi_worker reads once more


def raw_unary(nc: Any, payload: Any, subject: str = SUBJECT_PREFIX + "Unary") -> UnaryCall:
    parse = bench_pb2.Payload.FromString

    async def call() -> Any:
        reply = await nc.request(subject, payload.SerializeToString(), timeout=CALL_TIMEOUT)
        return parse(reply.data)

    return call


async def connect_shared(url: str, payload: Any) -> dict[str, Target]:
    """natsrpc's client and raw requests on one connection, for the shared-connection variant."""
    import bench_natsrpc
    import nats

    nc = await nats.connect(url, name="bench-load-shared")
    client = bench_natsrpc.BenchClient(nc)
    targets = {
        "natsrpc": Target(unary=lambda: client.unary(payload)),
        "raw": Target(unary=raw_unary(nc, payload, SHARED_RAW_SUBJECT), close=nc.close),
    }
    for target in targets.values():
        assert target.unary is not None
        await target.unary()  # both reply subscriptions exist before either is measured
    return targets


async def connect(
    contender: str, url: str, grpc_port: int, payload: Any, stream_request: Any
) -> Target:
    if contender == "grpc":
        import bench_pb2_grpc
        import grpc

        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        await channel.channel_ready()
        stub = bench_pb2_grpc.BenchStub(channel)
        return Target(
            unary=lambda: stub.Unary(payload),
            server_stream=lambda: stub.ServerStream(stream_request),
            chat=lambda: stub.Chat(),
            close=channel.close,
        )

    import nats

    nc = await nats.connect(url, name=f"bench-load-{contender}")
    if contender == "natsrpc":
        import bench_natsrpc

        from bench.common import enable_metrics_if_asked

        enable_metrics_if_asked()  # before the client: it picks up the metrics interceptor
        client = bench_natsrpc.BenchClient(nc)
        return Target(
            unary=lambda: client.unary(payload),
            server_stream=lambda: client.server_stream(stream_request, timeout=STREAM_TIMEOUT),
            chat=lambda: client.chat(timeout=STREAM_TIMEOUT),
            close=nc.close,
        )

    # raw nats-py and nats.micro share the client side: a plain request/reply.
    return Target(unary=raw_unary(nc, payload), chat=lambda: RawEcho(nc), close=nc.close)


def closed_loop_workers(
    args: argparse.Namespace, target: Target, payload: Any, state: State
) -> list[asyncio.Future[None]]:
    def worker() -> Awaitable[None]:
        if args.kind == "unary" and target.unary:
            return unary_worker(target.unary, state)
        if args.kind == "server_stream" and target.server_stream:
            return server_stream_worker(target.server_stream, state)
        if args.kind == "slow_stream" and target.server_stream:
            return slow_stream_worker(target.server_stream, state, args.read_delay)
        if args.kind == "bidi" and target.chat:
            return bidi_worker(target.chat, payload, state)
        raise SystemExit(f"{args.contender} does not take part in {args.kind}")

    return [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]


async def measure_closed_loop(args: argparse.Namespace, target: Target, payload: Any) -> None:
    state = State(target=args.calls, progress_every=args.progress)
    workers = closed_loop_workers(args, target, payload, state)
    emit("warming")
    if await read_command() != "measure":
        raise SystemExit("expected 'measure'")
    state.measuring = True
    started = time.perf_counter()
    if state.target is not None:
        await state.reached.wait()
        emit("done")
    elif await read_command() != "stop":
        raise SystemExit("expected 'stop'")
    state.measuring = False
    seconds = time.perf_counter() - started
    state.stopping = True
    await asyncio.gather(*workers)
    emit(
        "result",
        {
            "count": len(state.latencies),
            "seconds": seconds,
            "latencies_ns": state.latencies,
            "peak_rss": peak_rss_bytes(),
        },
    )


async def measure_open_loop(args: argparse.Namespace, target: Target) -> None:
    """Unary calls due at ``--rate`` per second by the clock, timed from their due time
    (natsrpc bench's open loop); the window is the orchestrator's measure to stop."""
    from natsrpc.cli.load_drivers import Load, Plan, clock

    unary = target.unary
    if args.kind != "unary" or unary is None:
        raise SystemExit("the open loop runs unary calls only")

    async def call() -> int:
        await unary()
        return 1

    plan = Plan(args.rate, 1, warmup=None, duration=None, calls=None, timeout=CALL_TIMEOUT)
    load = Load(plan, call)
    running = asyncio.ensure_future(load.run(clock()))
    emit("warming")
    if await read_command() != "measure":
        raise SystemExit("expected 'measure'")
    load.begin_window()
    if await read_command() != "stop":
        raise SystemExit("expected 'stop'")
    load.end_window()
    tally = (await running).to_dict()
    emit(
        "result",
        {
            "count": tally["latency"]["total"] + sum(tally["errors"].values()),
            **tally,
            "busy": tally["cpu_seconds"] / tally["wall_seconds"] if tally["wall_seconds"] else 0,
            "peak_rss": peak_rss_bytes(),
        },
    )


async def main(args: argparse.Namespace) -> None:
    payload = bench_pb2.Payload(data=b"x" * args.size)
    if args.contender == "shared":
        # One process, one connection: natsrpc measured, then raw, the other idle.
        targets = await connect_shared(args.url, payload)
        for target in targets.values():
            await measure_closed_loop(args, target, payload)
            if target.close:
                await target.close()
        return
    stream_request = bench_pb2.StreamRequest(count=args.stream_count, size=args.size)
    target = await connect(args.contender, args.url, args.grpc_port, payload, stream_request)
    if args.rate is not None:
        await measure_open_loop(args, target)
    else:
        await measure_closed_loop(args, target, payload)
    if target.close:
        await target.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contender", choices=(*CONTENDERS, "shared"))
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--stream-count", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--progress", type=int, default=10_000)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--read-delay", type=float, default=0.001, help="slow_stream: seconds")
    parser.add_argument("--rate", type=float, default=None, help="open loop: calls per second")
    arguments = parser.parse_args()
    run(main(arguments), arguments.loop)
