"""The whole route guide in one process: start nats-server, serve, run every kind of call."""

from __future__ import annotations

import asyncio

import nats
import natsrpc
from client import run
from natsrpc.testing import NatsServer
from server import RouteGuide, load_features


async def main() -> None:
    with NatsServer() as nats_server:
        print(f"nats-server listening on {nats_server.url}")
        nc = await nats.connect(nats_server.url)
        server = natsrpc.Server(nc)
        server.add_service(RouteGuide(load_features()))
        async with server:
            await run(nats_server.url)
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
