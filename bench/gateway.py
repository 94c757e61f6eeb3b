"""Connect unary JSON at concurrency 64 through the gateway, against grpc.aio called directly.

``python -m bench.gateway [--duration S] [--concurrency N]`` starts nats-server, the
natsrpc Bench server and ``natsrpc gateway`` (each a process of its own) and loads the
gateway's Connect port with JSON unary calls (a minimal HTTP/1.1 client, one
keep-alive connection per worker); then a grpc.aio Bench server, loaded with grpc.aio
calls. Both echo 100 B.
The rates and their ratio are printed; the load runs in this process, so on a small
machine the client's own cost weighs on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.children import Child
from bench.stubs import generate
from natsrpc.testing import NatsServer

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = b"x" * 100


async def _load(call: Callable[[], Awaitable[object]], concurrency: int, duration: float) -> float:
    """Calls per second completed by ``concurrency`` workers calling back to back."""
    done = 0
    stop_at = 0.0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            await call()
            done += 1

    stop_at = time.monotonic() + 0.5  # warm-up: connections open, caches fill
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done, started = 0, time.monotonic()
    stop_at = started + duration
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


class _HttpConnection:
    """One keep-alive HTTP/1.1 connection sending a ready request: a load generator that
    costs little next to the server it loads (httpx's client would weigh more)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def call(self, request: bytes) -> bytes:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the gateway answered {head[:40]!r}")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        assert length is not None, head
        return await self.reader.readexactly(int(length.group(1)))


async def gateway_rate(url: str, env: dict[str, str], concurrency: int, duration: float) -> float:
    server = Child("natsrpc server", ["-m", "bench.serve", "natsrpc", url], env)
    server.expect("ready")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "natsrpc.cli", "gateway", "--http-port", "0", "-s", url,
         "--max-concurrent-calls", str(concurrency * 2)],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    connections: list[_HttpConnection] = []
    try:
        assert gateway.stdout is not None
        ready = await asyncio.to_thread(gateway.stdout.readline)
        port = int(ready.split("http://127.0.0.1:", 1)[1].split(";", 1)[0])
        body = json.dumps({"data": base64.b64encode(PAYLOAD).decode()}).encode()
        request = (
            b"POST /natsrpc_bench.Bench/Unary HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nConnect-Protocol-Version: 1\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        for _ in range(concurrency):
            connections.append(_HttpConnection(*await asyncio.open_connection("127.0.0.1", port)))
        idle = list(connections)

        async def call() -> None:
            connection = idle.pop()
            try:
                await connection.call(request)
            finally:
                idle.append(connection)

        started = time.monotonic()
        await call()
        first_ms = (time.monotonic() - started) * 1000
        print(f"first call through the gateway: {first_ms:.1f} ms")
        return await _load(call, concurrency, duration)
    finally:
        for connection in connections:
            connection.writer.close()
        gateway.terminate()
        gateway.wait(30)
        server.stop()


async def grpc_rate(url: str, env: dict[str, str], concurrency: int, duration: float) -> float:
    import bench_pb2
    import bench_pb2_grpc
    from grpc import aio

    server = Child("grpc server", ["-m", "bench.serve", "grpc", url], env)
    port = server.expect("ready")["port"]
    try:
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = bench_pb2_grpc.BenchStub(channel)
            request = bench_pb2.Payload(data=PAYLOAD)
            return await _load(lambda: stub.Unary(request), concurrency, duration)
    finally:
        server.stop()


async def main(duration: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="natsrpc-bench-gateway-") as tmp:
        stubs = generate(Path(tmp))
        sys.path.insert(0, str(stubs.directory))
        paths = [str(ROOT), str(stubs.directory), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        with NatsServer() as nats:
            through_gateway = await gateway_rate(nats.url, env, concurrency, duration)
            direct = await grpc_rate(nats.url, env, concurrency, duration)
    print(f"Connect unary JSON c{concurrency} via gateway: {through_gateway:,.0f} calls/s")
    print(f"grpc.aio unary c{concurrency} direct:         {direct:,.0f} calls/s")
    print(f"ratio gateway / grpc.aio: {through_gateway / direct:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.duration, args.concurrency))
