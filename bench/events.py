"""The events benchmark's processes: natsrpc events, raw nats-py and FastStream.

``python -m bench.events ROLE CONTENDER KIND --url URL ...`` (the stubs
directory on ``PYTHONPATH``), speaking bench/common.py's line protocol:

- ``source`` (in a server's place): creates the stream, then, for ``js_consume``,
  stores ``--prefill`` events for the consumers to work through (the same for
  every contender), or, for ``core_fanout``, publishes events as fast as the
  contender's publisher can until its input ends;
- ``load``: ``js_publish`` publishes with an acknowledgement from the stream
  (``--concurrency`` at once); ``js_consume`` consumes and acknowledges;
  ``core_fanout`` subscribes and counts. It reports like bench/load.py.

Every contender sends the same payload with a ``Nats-Msg-Id`` (natsrpc always
does, for deduplication), parses it on receipt, and consumes from the same
stream, which natsrpc's ``ensure_streams`` creates.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import bench_events_natsrpc
import bench_events_pb2
import nats
from nats.aio.client import Client as NATS
from nats.nuid import NUID

import natsrpc
from bench.common import emit, peak_rss_bytes, read_command
from bench.load import State, unary_worker
from bench.loops import LOOPS, run

CONTENDERS = ("natsrpc", "raw", "faststream")
KINDS = ("js_publish", "js_consume", "core_fanout")
STREAM = bench_events_natsrpc.TICKS_SERVICE.stream.name  # type: ignore[union-attr]
JS_SUBJECT = bench_events_natsrpc.TICKS_TICKED.subject
CORE_SUBJECT = bench_events_natsrpc.PINGS_PINGED.subject
DURABLE = "bench"
Tick = bench_events_pb2.Tick

Stop = Callable[[], Awaitable[None]]


async def _faststream(url: str) -> Any:
    from faststream.nats import NatsBroker

    broker = NatsBroker(url, logger=None)
    await broker.connect()
    return broker


async def provision(nc: NATS) -> None:
    await natsrpc.ensure_streams(nc, bench_events_natsrpc.TicksPublisher)


async def source(args: argparse.Namespace) -> None:
    nc = await nats.connect(args.url, name="bench-events-source")
    await provision(nc)
    data = Tick(data=b"x" * args.size).SerializeToString()
    nuid = NUID()
    if args.kind == "js_consume":
        for _ in range(args.prefill):
            await nc.publish(JS_SUBJECT, data, headers={"Nats-Msg-Id": nuid.next().decode()})
        await nc.flush(timeout=120)
        js = nc.jetstream()
        for _ in range(600):  # stored, so that consuming is all that is measured
            if (await js.stream_info(STREAM)).state.messages >= args.prefill:
                break
            await asyncio.sleep(0.1)
        emit("ready", {})
        while await read_command():
            pass
    else:
        publish = await _core_publisher(args, nc)
        emit("ready", {})
        stopped = asyncio.ensure_future(read_command())
        while not stopped.done():
            for _ in range(64):
                await publish(data)
            await asyncio.sleep(0)
    await nc.close()
    emit("rss", peak_rss_bytes())


async def _core_publisher(args: argparse.Namespace, nc: NATS) -> Callable[[bytes], Awaitable[Any]]:
    if args.contender == "natsrpc":
        publisher = bench_events_natsrpc.PingsPublisher(nc)
        tick = Tick(data=b"x" * args.size)
        return lambda data: publisher.pinged(tick)
    if args.contender == "faststream":
        broker = await _faststream(args.url)
        return lambda data: broker.publish(data, CORE_SUBJECT)
    return lambda data: nc.publish(CORE_SUBJECT, data)


async def js_publisher(args: argparse.Namespace, nc: NATS) -> Callable[[], Awaitable[Any]]:
    await provision(nc)
    tick = Tick(data=b"x" * args.size)
    data = tick.SerializeToString()
    nuid = NUID()
    if args.contender == "natsrpc":
        publisher = bench_events_natsrpc.TicksPublisher(nc)
        return lambda: publisher.ticked(tick)
    if args.contender == "faststream":
        broker = await _faststream(args.url)

        def fast() -> Awaitable[Any]:
            headers = {"Nats-Msg-Id": nuid.next().decode()}
            return broker.publish(data, JS_SUBJECT, headers=headers, stream=STREAM)  # type: ignore[no-any-return]

        return fast
    js = nc.jetstream()

    def raw() -> Awaitable[Any]:
        return js.publish(JS_SUBJECT, data, headers={"Nats-Msg-Id": nuid.next().decode()})

    return raw


async def consume(args: argparse.Namespace, nc: NATS, state: State) -> Stop:
    """Start consuming (``js_consume``) or subscribing (``core_fanout``); what stops it."""
    parse = Tick.FromString
    js = args.kind == "js_consume"

    def counted() -> None:
        if state.measuring:
            state.record(0)

    if args.contender == "natsrpc":
        base = bench_events_natsrpc.Ticks if js else bench_events_natsrpc.Pings

        class Handlers(base):  # type: ignore[misc, valid-type]
            async def on_ticked(self, event: Any, context: Any) -> None:
                counted()

            async def on_pinged(self, event: Any, context: Any) -> None:
                counted()

        server = natsrpc.Server(nc, reflection=False)
        server.add_service(Handlers(), **({"consumer": DURABLE} if js else {}))
        await server.start()
        return server.stop
    if args.contender == "faststream":
        from faststream.nats import JStream, PullSub

        broker = await _faststream(args.url)
        options: dict[str, Any] = {}
        if js:
            options = {
                "stream": JStream(STREAM, declare=False),
                "durable": DURABLE,
                "pull_sub": PullSub(batch_size=64),
            }

        @broker.subscriber(JS_SUBJECT if js else CORE_SUBJECT, **options)  # type: ignore[misc]
        async def handle(body: bytes) -> None:
            parse(body)
            counted()

        await broker.start()
        return broker.stop  # type: ignore[no-any-return]
    if not js:

        async def on_ping(msg: Any) -> None:
            parse(msg.data)
            counted()

        sub = await nc.subscribe(CORE_SUBJECT, cb=on_ping)
        return sub.unsubscribe
    subscription = await nc.jetstream().pull_subscribe(JS_SUBJECT, durable=DURABLE)

    async def pull() -> None:
        while not state.stopping:
            try:
                messages = await subscription.fetch(64, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in messages:
                parse(msg.data)
                await msg.ack()
                counted()

    puller = asyncio.ensure_future(pull())

    async def stop() -> None:
        state.stopping = True
        await puller

    return stop


async def load(args: argparse.Namespace) -> None:
    nc = await nats.connect(args.url, name=f"bench-events-{args.contender}")
    state = State()
    workers: list[asyncio.Future[None]] = []
    stop: Stop | None = None
    if args.kind == "js_publish":
        publish = await js_publisher(args, nc)
        workers = [
            asyncio.ensure_future(unary_worker(publish, state)) for _ in range(args.concurrency)
        ]
    else:
        stop = await consume(args, nc, state)
    emit("warming")
    if await read_command() != "measure":
        raise SystemExit("expected 'measure'")
    state.latencies.clear()
    state.measuring = True
    started = time.perf_counter()
    if await read_command() != "stop":
        raise SystemExit("expected 'stop'")
    state.measuring = False
    seconds = time.perf_counter() - started
    state.stopping = True
    await asyncio.gather(*workers)
    if stop is not None:
        await stop()
    await nc.close()
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
    parser.add_argument("role", choices=("source", "load"))
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--prefill", type=int, default=100_000)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    arguments = parser.parse_args()
    run((source if arguments.role == "source" else load)(arguments), arguments.loop)
