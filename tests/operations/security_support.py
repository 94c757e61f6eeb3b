"""What the security test modules share: connecting, one call through, error callbacks."""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client as NATS

import natsrpc


class Errors:
    """Records what a connection's error callback was told; pass ``errors.callback``."""

    def __init__(self) -> None:
        self.seen: list[Exception] = []

        async def callback(error: Exception) -> None:
            self.seen.append(error)

        self.callback = callback

    def texts(self) -> list[str]:
        return [str(e) for e in self.seen]


async def open_connection(url: str, **options: Any) -> NATS:
    return await nats.connect(url, allow_reconnect=False, connect_timeout=5, **options)


async def round_trip(
    server_nc: NATS, client_nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    server = natsrpc.Server(server_nc)
    server.add_service(echo_service.EchoService("secure"))
    async with server:
        reply = await echo_natsrpc.EchoClient(client_nc, timeout=10).echo(
            echo_pb2.EchoRequest(text="hi")
        )
    assert (reply.text, reply.server) == ("hi", "secure")
