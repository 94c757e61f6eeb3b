"""Call the greeter: ``python client.py [NATS_URL] [NAME]``."""

from __future__ import annotations

import asyncio
import sys

import nats
import natsrpc

import greeter_natsrpc
from greeter_pb2 import HelloRequest


async def greet(url: str, name: str) -> None:
    nc = await nats.connect(url)
    try:
        greeter = greeter_natsrpc.GreeterClient(nc, timeout=2.0)

        reply = await greeter.say_hello(HelloRequest(name=name))
        print(reply.message)

        # Keep the call object to read the metadata the server sent back.
        call = greeter.say_hello(HelloRequest(name=name), metadata={"x-request-id": "42"})
        await call
        print("trailers:", dict(await call.trailing_metadata()))

        try:
            await greeter.say_hello(HelloRequest())
        except natsrpc.RpcError as error:
            print(f"an empty name fails with {error.code.name}: {error.message}")
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(
        greet(
            sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222",
            sys.argv[2] if len(sys.argv) > 2 else "world",
        )
    )
