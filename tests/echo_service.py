"""The test service behind tests/protos/natsrpc_test/echo.proto (tests/signal_server.py
serves it as a separate process)."""

from __future__ import annotations

import asyncio

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
