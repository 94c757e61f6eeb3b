"""Microbenchmarks of the natsrpc hot paths, without a network: ``python -m bench.hotpath``.

Every variant runs in this one process on a nats-py connection looped back on
itself (bench/loopback.py): nats-py's own publish, header parsing, subscription
queues and callbacks run for real, only the socket and nats-server are left
out. What is timed is therefore Python work per call or message, natsrpc's on
top of what any nats-py program pays; the raw nats-py variants are the yardstick.

- server: requests fed in batches of 64 (as one socket read delivers them at
  concurrency 64) to a subscription, until every reply has been published;
- client: calls at concurrency 64 against a loop-back that answers at once;
- both: client and server in the same process, the whole unary path;
- streams: server streaming and bidi ping-pong end to end, client and server.

``--loop uvloop`` runs the same under uvloop. Results are CPU-bound but measured
in wall time on a shared machine: take the best of several runs (``--repeat``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nats.aio.msg import Msg

import natsrpc
from bench import stubs
from bench.hotpath_metrics import metrics_variants
from bench.loopback import loopback, settle
from bench.loops import LOOPS
from bench.loops import run as run_on

CALLS = 19_200
"""A multiple of BATCH."""
BATCH = 64
"""Requests handed to the server per socket read, like concurrency 64."""
SUBJECT = "natsrpc_bench.Bench.Unary"
DEADLINE_HEADER = b"NATS/1.0\r\nRpc-Timeout-Ms: 10000\r\n\r\n"
STREAM_MESSAGES = 20_000

Timed = Callable[[], Coroutine[Any, Any, tuple[float, int]]]
"""One variant: runs and returns (seconds, units done)."""


def server_variants(pb2: Any, generated: Any) -> dict[str, Timed]:
    data = pb2.Payload(data=b"x" * 100).SerializeToString()

    class Impl(generated.Bench):
        async def unary(self, request: Any, context: natsrpc.Context) -> Any:
            return request

    Starter = Callable[[Any], Coroutine[Any, Any, Any]]

    async def feed(headers: bytes | None, serve: Starter) -> float:
        nc, back = await loopback()
        await serve(nc)
        base = back.published
        process = nc._process_msg
        subject = SUBJECT.encode()
        replies = [f"_INBOX.x.{i}".encode() for i in range(CALLS)]
        started = time.perf_counter()
        for i in range(0, CALLS, BATCH):
            for reply in replies[i : i + BATCH]:
                await process(1, subject, reply, data, headers)
            target = base + i + BATCH
            await settle(back, lambda target=target: back.published >= target)
        return time.perf_counter() - started

    async def start_natsrpc(nc: Any) -> None:
        server = natsrpc.Server(nc, reflection=False)
        server.add_service(Impl())
        await server.start()

    async def start_raw(nc: Any) -> None:
        parse = pb2.Payload.FromString

        async def on_request(msg: Msg) -> None:
            await nc.publish(msg.reply, parse(msg.data).SerializeToString())

        await nc.subscribe(SUBJECT, queue="q", cb=on_request)

    async def raw() -> tuple[float, int]:
        return await feed(None, start_raw), CALLS

    async def with_deadline() -> tuple[float, int]:
        return await feed(DEADLINE_HEADER, start_natsrpc), CALLS

    async def without_headers() -> tuple[float, int]:
        return await feed(None, start_natsrpc), CALLS

    return {
        "server: raw nats-py callback (decode, encode, publish)": raw,
        "server: natsrpc, request with Rpc-Timeout-Ms (as sent)": with_deadline,
        "server: natsrpc, request without headers": without_headers,
    }


async def _concurrently(calls: int, call: Callable[[], Coroutine[Any, Any, Any]]) -> float:
    async def worker(n: int) -> None:
        for _ in range(n):
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker(calls // BATCH) for _ in range(BATCH)))
    return time.perf_counter() - started


def client_variants(pb2: Any, generated: Any) -> dict[str, Timed]:
    payload = pb2.Payload(data=b"x" * 100)
    answer = payload.SerializeToString()
    parse = pb2.Payload.FromString

    async def raw() -> tuple[float, int]:
        nc, back = await loopback()
        back.answers[SUBJECT.encode()] = answer

        async def call() -> None:
            msg = await nc.request(SUBJECT, payload.SerializeToString(), timeout=10.0)
            parse(msg.data)

        return await _concurrently(CALLS, call), CALLS

    async def stub() -> tuple[float, int]:
        nc, back = await loopback()
        back.answers[SUBJECT.encode()] = answer
        client = generated.BenchClient(nc)
        return await _concurrently(CALLS, lambda: client.unary(payload)), CALLS

    return {
        "client: raw nats-py (serialize, nc.request, parse)": raw,
        "client: natsrpc generated stub": stub,
    }


def end_to_end_variants(pb2: Any, generated: Any) -> dict[str, Timed]:
    payload = pb2.Payload(data=b"x" * 100)
    parse = pb2.Payload.FromString

    class Impl(generated.Bench):
        async def unary(self, request: Any, context: natsrpc.Context) -> Any:
            return request

        async def server_stream(self, request: Any, context: natsrpc.Context) -> Any:
            message = pb2.Payload(data=b"x" * request.size)
            for _ in range(request.count):
                yield message

        async def chat(self, requests: Any, context: natsrpc.Context) -> Any:
            async for request in requests:
                yield request

    async def natsrpc_pair() -> Any:
        nc, _ = await loopback()
        server = natsrpc.Server(nc, reflection=False)
        server.add_service(Impl())
        await server.start()
        return generated.BenchClient(nc)

    async def raw() -> tuple[float, int]:
        nc, _ = await loopback()

        async def on_request(msg: Msg) -> None:
            await nc.publish(msg.reply, parse(msg.data).SerializeToString())

        await nc.subscribe(SUBJECT, queue="q", cb=on_request)

        async def call() -> None:
            msg = await nc.request(SUBJECT, payload.SerializeToString(), timeout=10.0)
            parse(msg.data)

        return await _concurrently(CALLS, call), CALLS

    async def unary() -> tuple[float, int]:
        client = await natsrpc_pair()
        return await _concurrently(CALLS, lambda: client.unary(payload)), CALLS

    async def unary_c1() -> tuple[float, int]:
        client = await natsrpc_pair()
        calls = CALLS // 4
        started = time.perf_counter()
        for _ in range(calls):
            await client.unary(payload)
        return time.perf_counter() - started, calls

    async def server_stream() -> tuple[float, int]:
        client = await natsrpc_pair()
        request = pb2.StreamRequest(count=STREAM_MESSAGES, size=100)
        received = 0
        started = time.perf_counter()
        async for _ in client.server_stream(request):
            received += 1
        return time.perf_counter() - started, received

    async def ping_pong() -> tuple[float, int]:
        client = await natsrpc_pair()
        call = client.chat()
        rounds = STREAM_MESSAGES // 4
        started = time.perf_counter()
        for _ in range(rounds):
            await call.write(payload)
            await call.read()
        await call.done_writing()
        elapsed = time.perf_counter() - started
        await call.read()
        return elapsed, rounds

    return {
        "unary c64, client + server: raw nats-py": raw,
        "unary c64, client + server: natsrpc": unary,
        "unary c1, client + server: natsrpc": unary_c1,
        "server streaming, per message, client + server: natsrpc": server_stream,
        "bidi ping-pong, per round trip, client + server: natsrpc": ping_pong,
    }


GROUPS = {
    "server": server_variants,
    "client": client_variants,
    "both": end_to_end_variants,
    "metrics": metrics_variants,
}


def best_of(repeats: int, loop_name: str, run: Timed) -> float:
    """Fastest of ``repeats`` runs, in microseconds per unit."""
    best = float("inf")
    for _ in range(repeats):
        seconds, units = run_on(run(), loop_name)
        best = min(best, seconds * 1e6 / max(1, units))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant, best kept")
    parser.add_argument("--only", nargs="+", choices=sorted(GROUPS), help="variant groups")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="natsrpc-hotpath-") as tmp:
        generated_stubs = stubs.generate(Path(tmp))
        sys.path.insert(0, str(generated_stubs.directory))
        import bench_natsrpc
        import bench_pb2

        print(
            f"microseconds per call or message, best of {args.repeat} runs, "
            f"{args.loop}, Python {sys.version.split()[0]} (no network)"
        )
        for name, variants in GROUPS.items():
            if args.only and name not in args.only:
                continue
            for title, run in variants(bench_pb2, bench_natsrpc).items():
                print(f"  {best_of(args.repeat, args.loop, run):7.2f}  {title}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
