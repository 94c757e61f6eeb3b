"""The Connect protocol as an ASGI application: unary (POST and GET) and server streaming.

Every failure, the caller's or the gateway's, is answered as a Connect error:
unary calls with the status table's HTTP status and the error JSON, streams with
HTTP 200 and the error in the end-of-stream message. Client and bidi streaming
need full-duplex HTTP/2: the gateway serves them on its gRPC port only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from natsrpc import codec
from natsrpc.gateway import connect_protocol as wire
from natsrpc.gateway.asgi import ClientGone, Exchange, Headers, Receive, Scope, Send
from natsrpc.gateway.calls import Caller, as_rpc_error
from natsrpc.gateway.compression import decompress
from natsrpc.gateway.cors import CorsPolicy
from natsrpc.gateway.directory import ServiceDirectory
from natsrpc.gateway.headers import HeaderPolicy, connect_timeout, response_headers
from natsrpc.gateway.routes import RawMessage, Route
from natsrpc.gateway.status_map import http_status
from natsrpc.metadata import MetadataValue
from natsrpc.spec import MethodKind
from natsrpc.status import RpcError, StatusCode

logger = logging.getLogger("natsrpc.gateway")

Lifespan = Callable[[], Awaitable[None]]


class _ProtocolError(RpcError):
    """A request the Connect protocol itself refuses, with the HTTP status it names."""

    def __init__(self, status: int, code: StatusCode, message: str, headers: Headers) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers


class ConnectApp:
    """The ASGI application; ``natsrpc.gateway.Gateway`` makes one (``gateway.asgi``)."""

    def __init__(
        self,
        directory: ServiceDirectory,
        caller: Caller,
        *,
        cors: CorsPolicy,
        headers: HeaderPolicy,
        startup: Lifespan | None = None,
        shutdown: Lifespan | None = None,
    ) -> None:
        self._directory = directory
        self._caller = caller
        self._cors = cors
        self._headers = headers
        self._startup = startup
        self._shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # a WebSocket: refused by the server when the app returns
        exchange = Exchange(scope, receive, send)
        try:
            await self._handle(exchange)
        except ClientGone:
            return
        except Exception as error:
            if exchange.gone:
                return
            rpc_error = as_rpc_error(error, exchange.path)
            if exchange.streaming and exchange.started:
                await exchange.write(wire.end_stream_message(rpc_error, rpc_error.metadata), False)
            elif exchange.streaming:
                await self._stream_error(exchange, rpc_error)
            elif not exchange.started:
                await self._unary_error(exchange, rpc_error)

    async def _handle(self, exchange: Exchange) -> None:
        if exchange.method == "OPTIONS":
            await self._preflight(exchange)
            return
        if exchange.method not in ("GET", "POST"):
            raise _ProtocolError(
                405, StatusCode.UNIMPLEMENTED, f"HTTP {exchange.method} is not Connect",
                [(b"allow", b"GET, POST")],
            )  # fmt: skip
        route = await self._directory.lookup(exchange.path)
        if route is None:
            raise _ProtocolError(
                404, StatusCode.UNIMPLEMENTED, f"no method {exchange.path} is exposed", []
            )
        version = exchange.header("connect-protocol-version")
        if version is not None and version != "1":
            raise RpcError(StatusCode.INVALID_ARGUMENT, f"Connect-Protocol-Version {version!r}")
        if exchange.method == "GET":
            await self._get(exchange, route)
            return
        encoding = wire.encoding_of(exchange.header("content-type"))
        if encoding is None or encoding.streaming != (route.kind is not MethodKind.UNARY):
            raise self._wrong_content_type(exchange, route)
        if encoding.streaming:
            # From here on, errors travel in the end-of-stream message.
            exchange.streaming = True
            if route.kind.client_streams:
                raise RpcError(
                    StatusCode.UNIMPLEMENTED,
                    f"{route.path} streams requests, which needs HTTP/2: call it on the gRPC port",
                )
            await self._server_stream(exchange, route, encoding)
            return
        limit = self._caller.limits.max_request_bytes
        body = await exchange.read_body(limit)
        body = decompress(body, exchange.header("content-encoding"), limit)
        await self._unary(exchange, route, encoding, body)

    def _wrong_content_type(self, exchange: Exchange, route: Route) -> _ProtocolError:
        accepted = wire.UNARY_TYPES if route.kind is MethodKind.UNARY else wire.STREAM_TYPES
        given = exchange.header("content-type") or "none"
        return _ProtocolError(
            415, StatusCode.INVALID_ARGUMENT,
            f"{route.path} takes Content-Type {' or '.join(accepted)}, not {given}",
            [(b"accept-post", ", ".join(accepted).encode())],
        )  # fmt: skip

    async def _get(self, exchange: Exchange, route: Route) -> None:
        if route.kind is not MethodKind.UNARY or not route.side_effect_free:
            raise _ProtocolError(
                405, StatusCode.UNIMPLEMENTED,
                f"{route.path} may only be called with POST (GET needs NO_SIDE_EFFECTS)",
                [(b"allow", b"POST")],
            )  # fmt: skip
        query = wire.parse_get_query(exchange.scope.get("query_string", b""))
        limit = self._caller.limits.max_request_bytes
        if len(query.message) > limit:
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED, "the request exceeds the gateway's limit")
        message = decompress(query.message, query.compression, limit)
        await self._unary(exchange, route, query.encoding, message)

    async def _unary(
        self, exchange: Exchange, route: Route, encoding: wire.Encoding, body: bytes
    ) -> None:
        timeout = connect_timeout(exchange.header("connect-timeout-ms"))
        metadata = self._headers.request_metadata(exchange.header_pairs)
        with self._caller.admitted():
            if encoding.json:
                call = self._caller.unary(
                    route.typed, codec.decode(route.typed.request_type, body, True), timeout,
                    metadata,
                )  # fmt: skip
            else:
                call = self._caller.unary(route.raw, RawMessage(body), timeout, metadata)
            with exchange.cancelling_on_disconnect(call):
                response = await call
                trailers = await call.trailing_metadata()
        if exchange.gone:
            return
        payload = codec.encode(response, True) if encoding.json else response.data
        headers: Headers = [(b"content-type", encoding.content_type.encode())]
        headers += _metadata_headers(trailers, "trailer-")
        await exchange.respond(200, self._with_cors(exchange, headers), payload)

    async def _server_stream(
        self, exchange: Exchange, route: Route, encoding: wire.Encoding
    ) -> None:
        limit = self._caller.limits.max_request_bytes
        body = await exchange.read_body(limit + wire.ENVELOPE_PREFIX_SIZE)
        message, compressed = wire.single_envelope(body)
        if compressed:
            name = exchange.header("connect-content-encoding")
            if name in (None, "", "identity"):
                raise RpcError(
                    StatusCode.INVALID_ARGUMENT,
                    "the message is flagged compressed and Connect-Content-Encoding names none",
                )
            message = decompress(message, name, limit)
        timeout = connect_timeout(exchange.header("connect-timeout-ms"))
        metadata = self._headers.request_metadata(exchange.header_pairs)
        with self._caller.admitted():
            if encoding.json:
                request: Any = codec.decode(route.typed.request_type, message, True)
                call = self._caller.server_stream(route.typed, request, timeout, metadata)
            else:
                call = self._caller.server_stream(route.raw, RawMessage(message), timeout, metadata)
            with exchange.cancelling_on_disconnect(call):
                initial = await call.initial_metadata()
                headers: Headers = [(b"content-type", encoding.content_type.encode())]
                headers += _metadata_headers(initial, "")
                await exchange.start(200, self._with_cors(exchange, headers))
                async for item in call:
                    data = codec.encode(item, True) if encoding.json else item.data
                    await exchange.write(wire.envelope(data))
                trailers = await call.trailing_metadata()
        if not exchange.gone:
            await exchange.write(wire.end_stream_message(None, trailers), more=False)

    async def _unary_error(self, exchange: Exchange, error: RpcError) -> None:
        status = error.status if isinstance(error, _ProtocolError) else http_status(error.code)
        headers: Headers = [(b"content-type", wire.UNARY_JSON.encode())]
        if isinstance(error, _ProtocolError):
            headers += error.headers
        headers += _metadata_headers(error.metadata, "trailer-")
        body = json.dumps(wire.error_json(error)).encode()
        await exchange.respond(status, self._with_cors(exchange, headers), body)

    async def _stream_error(self, exchange: Exchange, error: RpcError) -> None:
        content_type = exchange.header("content-type") or wire.STREAM_PROTO
        headers: Headers = [(b"content-type", content_type.encode("latin-1"))]
        await exchange.respond(
            200, self._with_cors(exchange, headers), wire.end_stream_message(error, error.metadata)
        )

    async def _preflight(self, exchange: Exchange) -> None:
        origin = exchange.header("origin")
        if origin is None or exchange.header("access-control-request-method") is None:
            raise _ProtocolError(
                405, StatusCode.UNIMPLEMENTED, "OPTIONS is only answered as a CORS preflight",
                [(b"allow", b"GET, POST")],
            )  # fmt: skip
        if not self._cors.allows(origin):
            raise RpcError(StatusCode.PERMISSION_DENIED, f"origin {origin} is not allowed")
        requested = exchange.header("access-control-request-headers") or ""
        await exchange.respond(204, self._cors.preflight(origin, requested), b"")

    def _with_cors(self, exchange: Exchange, headers: Headers) -> Headers:
        origin = exchange.header("origin")
        if origin is not None and self._cors.allows(origin):
            headers += self._cors.response(origin, headers)
        return headers

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._startup is not None:
                        await self._startup()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._shutdown is not None:
                    await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _metadata_headers(metadata: Mapping[str, MetadataValue], prefix: str) -> Headers:
    return [
        ((prefix + name).encode("latin-1"), value.encode("latin-1"))
        for name, value in response_headers(metadata)
    ]
