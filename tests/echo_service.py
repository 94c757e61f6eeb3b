"""The test service behind tests/protos/natsrpc_test/echo.proto (tests/signal_server.py
serves it as a separate process)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping

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
                # A string map on the wire: a -bin key's trailer is its value's UTF-8 bytes.
                context.set_trailing_metadata(
                    {
                        k: v.encode() if k.endswith("-bin") else v
                        for k, v in request.trailers.items()
                    }
                )
            if request.sleep_ms:
                await asyncio.sleep(request.sleep_ms / 1000)
            if request.crash:
                raise RuntimeError(request.crash)
            if request.fail_code:
                # text "details" attaches one detail of the test's own schema.
                details = [echo_pb2.EchoReply(text="detail")] if request.text == "details" else []
                context.abort(
                    natsrpc.StatusCode(request.fail_code), request.fail_message, details=details
                )
            remaining = context.time_remaining()
            return echo_pb2.EchoReply(
                text=request.text,
                metadata=_strings(context.metadata) if request.echo_metadata else {},
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


def _strings(metadata: Mapping[str, str | bytes]) -> dict[str, str]:
    """Metadata for a string map: -bin values in base64."""
    return {
        k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in metadata.items()
    }
