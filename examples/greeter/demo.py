"""The whole story in one process: start nats-server, serve the greeter, call it, discover it."""

from __future__ import annotations

import asyncio
import json

import nats
import natsrpc
from client import greet
from natsrpc.testing import NatsServer
from server import Greeter


async def main() -> None:
    with NatsServer() as nats_server:
        print(f"nats-server listening on {nats_server.url}")
        nc = await nats.connect(nats_server.url)
        server = natsrpc.Server(nc)
        server.add_service(Greeter())
        async with server:
            await greet(nats_server.url, "world")
            info = json.loads((await nc.request("$SRV.INFO.helloworld-Greeter", b"")).data)
            endpoints = ", ".join(e["subject"] for e in info["endpoints"])
            print(f"discovered {info['name']} {info['version']} ({info['id']}): {endpoints}")
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
