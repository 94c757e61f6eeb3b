"""The test service behind tests/protos/natsrpc_test/echo.proto.

Importable by tests, and runnable as a separate process:
``python tests/echo_service.py URL NAME [PREFIX]`` serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from natsrpc_test import echo_natsrpc, echo_pb2

import natsrpc


class EchoService(echo_natsrpc.Echo):
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.active = 0
        self.peak_active = 0
        self.cancelled = 0

    async def echo(
        self, request: echo_pb2.EchoRequest, context: natsrpc.Context
    ) -> echo_pb2.EchoReply:
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            if request.trailers:
                context.set_trailing_metadata(dict(request.trailers))
            if request.sleep_ms:
                await asyncio.sleep(request.sleep_ms / 1000)
            if request.crash:
                raise RuntimeError(request.crash)
            if request.fail_code:
                context.abort(natsrpc.StatusCode(request.fail_code), request.fail_message)
            remaining = context.time_remaining()
            return echo_pb2.EchoReply(
                text=request.text,
                metadata=dict(context.metadata) if request.echo_metadata else {},
                time_remaining=-1.0 if remaining is None else remaining,
                blob=request.blob,
                server=self.name,
            )
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1

    async def peek(
        self, request: echo_pb2.EchoRequest, context: natsrpc.Context
    ) -> echo_pb2.EchoReply:
        return await self.echo(request, context)


async def _serve(url: str, name: str, prefix: str | None) -> None:
    import nats

    nc = await nats.connect(url)
    server = natsrpc.Server(nc)
    server.add_service(EchoService(name), subject_prefix=prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await server.start()
    print("ready", flush=True)
    await stop.wait()
    await server.stop()
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
