"""The greeter service: ``python server.py [NATS_URL]`` serves until Ctrl-C."""

from __future__ import annotations

import sys

import nats
import natsrpc

import greeter_natsrpc
from greeter_pb2 import HelloReply, HelloRequest


class Greeter(greeter_natsrpc.Greeter):
    async def say_hello(self, request: HelloRequest, context: natsrpc.Context) -> HelloReply:
        if not request.name:
            context.abort(natsrpc.StatusCode.INVALID_ARGUMENT, "name is required")
        context.set_trailing_metadata({"greeter-instance": "example"})
        return HelloReply(message=f"Hello, {request.name}!")

    async def say_hello_again(self, request: HelloRequest, context: natsrpc.Context) -> HelloReply:
        return HelloReply(message=f"Hello again, {request.name}!")


def main(url: str) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop without dropping a call."""

    async def build() -> natsrpc.Server:
        nc = await nats.connect(url)
        server = natsrpc.Server(nc)
        server.add_service(Greeter())
        return server

    natsrpc.run(build, ready=lambda: print(f"serving helloworld.Greeter on {url}; Ctrl-C to stop"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222")
