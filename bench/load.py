"""The load side of one scenario, run as its own process.

``python -m bench.load CONTENDER KIND ...`` connects, starts ``--concurrency``
workers that call as fast as they can, and writes ``warming``. Calls are
recorded only between the orchestrator's ``measure`` and ``stop`` commands (or,
with ``--calls N``, from ``measure`` until N calls completed, with a
``progress`` event every ``--progress`` calls). It then writes
``result {"count", "seconds", "latencies_ns", "peak_rss"}``.
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
    subject = SUBJECT_PREFIX + "Unary"
    parse = bench_pb2.Payload.FromString

    async def call() -> Any:
        reply = await nc.request(subject, payload.SerializeToString(), timeout=CALL_TIMEOUT)
        return parse(reply.data)

    return Target(unary=call, close=nc.close)


async def main(args: argparse.Namespace) -> None:
    payload = bench_pb2.Payload(data=b"x" * args.size)
    stream_request = bench_pb2.StreamRequest(count=args.stream_count, size=args.size)
    target = await connect(args.contender, args.url, args.grpc_port, payload, stream_request)
    state = State(target=args.calls, progress_every=args.progress)

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

    workers = [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]
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
    if target.close:
        await target.close()
    emit(
        "result",
        {
            "count": len(state.latencies),
            "seconds": seconds,
            "latencies_ns": state.latencies,
            "peak_rss": peak_rss_bytes(),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contender", choices=CONTENDERS)
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
    arguments = parser.parse_args()
    run(main(arguments), arguments.loop)
