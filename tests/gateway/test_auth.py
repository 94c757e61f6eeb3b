"""The authentication recipes of docs/gateway.md, in full: a bearer token checked at the
edge becomes metadata the services can trust, on both front ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import grpc
import httpx
import pytest
from grpc import aio
from helpers import Served
from nats.aio.client import Client as NATS

from natsrpc.gateway import Gateway

USER = "x-authenticated-user"
TOKENS = {"good-token": "alice"}


def verify(token: str) -> str | None:
    return TOKENS.get(token)


# --- Connect: an ASGI middleware ------------------------------------------------------


def authenticated(app: Any, check: Callable[[str], str | None]) -> Any:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":  # preflights carry no token
            await app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != USER.encode()]
        token = dict(headers).get(b"authorization", b"").removeprefix(b"Bearer ")
        user = check(token.decode())
        if user is None:
            body = b'{"code": "unauthenticated", "message": "a valid bearer token is needed"}'
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        headers.append((USER.encode(), user.encode()))
        await app({**scope, "headers": headers}, receive, send)

    return middleware


async def test_an_asgi_middleware_maps_a_bearer_token_to_metadata(nc: NATS, served: Served) -> None:
    gateway = Gateway(nc)
    async with gateway:
        app = authenticated(gateway.asgi, verify)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            ok = await client.post(
                "/natsrpc_test.Echo/Echo",
                json={"echoMetadata": True},
                # The caller's own copy of the header is dropped, never trusted.
                headers={"authorization": "Bearer good-token", USER: "mallory"},
            )
            refused = await client.post(
                "/natsrpc_test.Echo/Echo", json={}, headers={"authorization": "Bearer bad"}
            )
    assert ok.json()["metadata"] == {USER: "alice"}
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")


# --- gRPC: a grpcio server interceptor --------------------------------------------------


class _Context:
    """The real servicer context, with other invocation metadata."""

    def __init__(self, context: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._context = context
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _replace_behaviour(handler: Any, make: Callable[[Any], Any]) -> Any:
    kind = (handler.request_streaming, handler.response_streaming)
    behaviour = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary
        or handler.stream_stream
    )  # fmt: skip
    return _FACTORIES[kind](
        make(behaviour),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _with_metadata(handler: Any, metadata: tuple[tuple[str, str], ...]) -> Any:
    def make(behaviour: Any) -> Any:
        if handler.response_streaming:

            async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
                async for response in behaviour(request, _Context(context, metadata)):
                    yield response

            return streaming

        async def unary(request: Any, context: Any) -> Any:
            return await behaviour(request, _Context(context, metadata))

        return unary

    return _replace_behaviour(handler, make)


def _refused(handler: Any) -> Any:
    async def refuse(request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is needed")

    return _replace_behaviour(handler, lambda behaviour: refuse)


class BearerAuth(aio.ServerInterceptor):
    def __init__(self, check: Callable[[str], str | None]) -> None:
        self.check = check

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        metadata = [(k, v) for k, v in details.invocation_metadata if k != USER]
        token = dict(metadata).get("authorization", "").removeprefix("Bearer ")
        user = self.check(token)
        if user is None:
            return _refused(handler)
        metadata.append((USER, user))
        return _with_metadata(handler, tuple(metadata))


async def test_a_grpc_interceptor_maps_a_bearer_token_to_metadata(
    nc: NATS, served: Served, echo_pb2: ModuleType
) -> None:
    gateway = Gateway(nc)
    async with gateway:
        port = await gateway.start_grpc(interceptors=[BearerAuth(verify)])
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary(
                "/natsrpc_test.Echo/Echo",
                request_serializer=echo_pb2.EchoRequest.SerializeToString,
                response_deserializer=echo_pb2.EchoReply.FromString,
            )
            reply = await echo(
                echo_pb2.EchoRequest(echo_metadata=True),
                metadata=(("authorization", "Bearer good-token"), (USER, "mallory")),
            )
            with pytest.raises(aio.AioRpcError) as refused:
                await echo(echo_pb2.EchoRequest(), metadata=(("authorization", "Bearer bad"),))
    assert dict(reply.metadata) == {USER: "alice"}
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
