"""The server side of one contender, run as its own process.

``python -m bench.serve CONTENDER NATS_URL [--loop uvloop]`` (the stubs
directory on ``PYTHONPATH``) serves the Bench service, writes ``ready {...}``,
and stops at the end of its standard input, writing ``rss <peak bytes>`` last.
Every contender runs the same handler logic: decode the request, echo it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import bench_pb2
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from bench.common import (
    CONTENDERS,
    QUEUE_GROUP,
    SHARED_RAW_SUBJECT,
    SUBJECT_PREFIX,
    emit,
    peak_rss_bytes,
    read_command,
)
from bench.handlers import stream_messages
from bench.loops import LOOPS, run

Payload = bench_pb2.Payload
Stopper = Callable[[], Awaitable[None]]


async def serve_natsrpc(nc: NATS) -> tuple[Stopper, dict[str, Any]]:
    import natsrpc
    from bench.app import BenchService
    from bench.common import enable_metrics_if_asked

    probes = enable_metrics_if_asked()
    server = natsrpc.Server(nc)
    if probes is not None:
        probes.watch(server)
    server.add_service(BenchService())
    await server.start()
    return server.stop, {}


async def serve_raw(
    nc: NATS, subjects: tuple[str, ...] = (SUBJECT_PREFIX + "Unary", SUBJECT_PREFIX + "Chat")
) -> tuple[Stopper, dict[str, Any]]:
    """Unary, and the bidi floor: each Chat message is a plain request answered the same way."""

    async def on_request(msg: Msg) -> None:
        request = Payload.FromString(msg.data)
        await nc.publish(msg.reply, request.SerializeToString())

    subs = [await nc.subscribe(s, queue=QUEUE_GROUP, cb=on_request) for s in subjects]
    await nc.flush()

    async def stop() -> None:
        for sub in subs:
            await sub.unsubscribe()

    return stop, {}


async def serve_shared(nc: NATS) -> tuple[Stopper, dict[str, Any]]:
    """natsrpc's Bench and the raw echo on one connection (raw on a subject of its own)."""
    stop_natsrpc, _ = await serve_natsrpc(nc)
    stop_raw, _ = await serve_raw(nc, (SHARED_RAW_SUBJECT,))

    async def stop() -> None:
        await stop_raw()
        await stop_natsrpc()

    return stop, {}


async def serve_micro(nc: NATS) -> tuple[Stopper, dict[str, Any]]:
    import nats.micro
    from nats.micro.request import Request

    async def on_request(request: Request) -> None:
        echoed = Payload.FromString(request.data)
        await request.respond(echoed.SerializeToString())

    service = await nats.micro.add_service(nc, name="natsrpc-bench", version="0.0.1")
    await service.add_endpoint(
        name="Unary", subject=SUBJECT_PREFIX + "Unary", queue_group=QUEUE_GROUP, handler=on_request
    )
    await nc.flush()
    return service.stop, {}


async def serve_grpc() -> tuple[Stopper, dict[str, Any]]:
    import bench_pb2_grpc
    import grpc

    class Servicer(bench_pb2_grpc.BenchServicer):  # type: ignore[misc]
        async def Unary(self, request: Any, context: Any) -> Any:
            return request

        async def ServerStream(self, request: Any, context: Any) -> AsyncIterator[Any]:
            count, message = stream_messages(request)
            for _ in range(count):
                yield message

        async def Chat(self, requests: AsyncIterator[Any], context: Any) -> Any:
            async for request in requests:
                yield request

    server = grpc.aio.server()
    bench_pb2_grpc.add_BenchServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    async def stop() -> None:
        await server.stop(grace=1.0)

    return stop, {"port": port}


async def main(contender: str, url: str) -> None:
    nc: NATS | None = None
    if contender == "grpc":
        stop, info = await serve_grpc()
    else:
        nc = await nats.connect(url, name=f"bench-serve-{contender}")
        serve = {"natsrpc": serve_natsrpc, "raw": serve_raw, "micro": serve_micro,
                 "shared": serve_shared}[contender]  # fmt: skip
        stop, info = await serve(nc)
    emit("ready", info)
    while await read_command():
        pass
    await stop()
    if nc is not None:
        await nc.close()
    emit("rss", peak_rss_bytes())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contender", choices=(*CONTENDERS, "shared"))
    parser.add_argument("url")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    args = parser.parse_args()
    run(main(args.contender, args.url), args.loop)
