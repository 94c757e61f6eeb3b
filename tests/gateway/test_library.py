"""The gateway as a library: generated specs instead of reflection, the ASGI lifespan,
client interceptors around its calls, and trace context reaching the service."""

from __future__ import annotations

import asyncio
import socket
from types import ModuleType
from typing import Any

import httpx
import uvicorn
from google.protobuf.message import Message
from helpers import Served, eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.gateway import Gateway, RawMessage


class Recording(natsrpc.ClientInterceptor):
    """Records what each call looked like, as a metrics interceptor would see it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, type[Message]]] = []

    async def intercept_unary(
        self, request: Message, details: natsrpc.CallDetails, call_next: Any
    ) -> Message:
        response = await call_next(request, details)
        self.calls.append((details.method.path, details.metadata.get("traceparent", ""),
                           type(request)))  # fmt: skip
        return response


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_generated_specs_interceptors_and_trace_context(
    nc: NATS, served: Served, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    recording = Recording()
    gateway = Gateway(
        nc, reflection=False, services=[echo_natsrpc.ECHO_SERVICE], interceptors=[recording]
    )
    async with gateway:
        assert gateway.directory.services() == ["natsrpc_test.Echo"]
        port = await gateway.start_http()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            as_json = await client.post(
                "/natsrpc_test.Echo/Echo",
                json={"text": "spec", "echoMetadata": True},
                headers={"traceparent": TRACEPARENT},
            )
            as_proto = await client.post(
                "/natsrpc_test.Echo/Echo",
                content=echo_pb2.EchoRequest(text="raw").SerializeToString(),
                headers={"content-type": "application/proto"},
            )
    assert as_json.json()["metadata"] == {"traceparent": TRACEPARENT}
    assert echo_pb2.EchoReply.FromString(as_proto.content).text == "raw"
    # JSON is converted with the generated classes; binary passes through as RawMessage.
    assert recording.calls == [
        ("/natsrpc_test.Echo/Echo", TRACEPARENT, echo_pb2.EchoRequest),
        ("/natsrpc_test.Echo/Echo", "", RawMessage),
    ]


async def test_the_asgi_lifespan_starts_discovery(nc: NATS, served: Served) -> None:
    gateway = Gateway(nc)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(gateway.asgi, lifespan="on", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await eventually(lambda: server.started)
        assert "natsrpc_test.Streamer" in gateway.directory.services()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.post("/natsrpc_test.Streamer/Ping", json={"index": 3})
        assert response.json() == {"index": 3, "text": "pong"}
    finally:
        server.should_exit = True
        await serving
        listener.close()
