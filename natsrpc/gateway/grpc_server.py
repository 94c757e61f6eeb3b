"""gRPC over HTTP/2, every method kind, on grpcio's asyncio server.

One generic handler serves every route with bytes in and bytes out: grpcio is
given no (de)serializers, and the bytes go to NATS and back as they are. The
caller's deadline (``grpc-timeout``) becomes the natsrpc call's, a cancelled
gRPC call cancels the natsrpc call (grpcio cancels the handler's task), and the
status, its message and the trailers come back as the service sent them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from natsrpc.gateway.calls import Caller, as_rpc_error
from natsrpc.gateway.directory import ServiceDirectory
from natsrpc.gateway.grpc_reflection import REFLECTION_PATHS, reflection_handler
from natsrpc.gateway.headers import HeaderPolicy, response_metadata
from natsrpc.gateway.routes import RawMessage, Route
from natsrpc.gateway.status_map import STATUS_TABLE
from natsrpc.metadata import MetadataValue
from natsrpc.spec import MethodKind
from natsrpc.status import RpcError, serialized_status

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}
# Every code of the one table, as grpcio names it.
GRPC_STATUS = {code: _GRPC_CODES[int(code)] for code, _, _ in STATUS_TABLE}
_NO_DEADLINE = 10**8
"""grpcio reports a call without a deadline as one that far off (seconds)."""


_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _pairs(metadata: Mapping[str, MetadataValue]) -> tuple[tuple[str, MetadataValue], ...]:
    # grpcio, like natsrpc, has ``-bin`` values as bytes and the rest as str.
    return tuple(response_metadata(metadata))


class GatewayHandler(grpc.GenericRpcHandler):
    """Finds the route of each incoming call; unknown methods are UNIMPLEMENTED."""

    def __init__(self, directory: ServiceDirectory, caller: Caller, headers: HeaderPolicy) -> None:
        self._directory = directory
        self._caller = caller
        self._headers = headers
        self._reflection = reflection_handler(directory)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        if handler_call_details.method in REFLECTION_PATHS:
            return self._reflection
        route = self._directory.find(handler_call_details.method)
        if route is None:
            # grpcio asks synchronously: look again in the background for the next call.
            self._directory.request_refresh()
            return None
        if route.kind is MethodKind.UNARY:
            return grpc.unary_unary_rpc_method_handler(self._unary(route))
        if route.kind is MethodKind.SERVER_STREAMING:
            return grpc.unary_stream_rpc_method_handler(self._server_stream(route))
        if route.kind is MethodKind.CLIENT_STREAMING:
            return grpc.stream_unary_rpc_method_handler(self._client_stream(route))
        return grpc.stream_stream_rpc_method_handler(self._bidi_stream(route))

    def _call_inputs(
        self, context: aio.ServicerContext[Any, Any]
    ) -> tuple[float | None, dict[str, MetadataValue]]:
        remaining = context.time_remaining()
        timeout = None if remaining is None or remaining > _NO_DEADLINE else max(remaining, 1e-3)
        return timeout, self._headers.request_metadata(context.invocation_metadata() or ())

    @contextlib.contextmanager
    def _failures(self, route: Route) -> Iterator[None]:
        """Turn a failure into the error the gRPC caller is told, for ``_abort``."""
        try:
            with self._caller.admitted():
                yield
        except RpcError:
            raise
        except Exception as error:
            raise as_rpc_error(error, route.path) from None

    def _unary(self, route: Route) -> Any:
        async def handle(request: bytes, context: aio.ServicerContext[Any, Any]) -> bytes:
            return await self._one_response(
                route,
                context,
                lambda timeout, metadata: self._caller.unary(
                    route.raw, RawMessage(request), timeout, metadata
                ),
            )

        return handle

    async def _one_response(
        self,
        route: Route,
        context: aio.ServicerContext[Any, Any],
        start: Callable[[float | None, dict[str, MetadataValue]], Any],
    ) -> bytes:
        """A call that answers once (unary, client streaming): its reply and trailers."""
        try:
            timeout, metadata = self._call_inputs(context)
            with self._failures(route):
                call = start(timeout, metadata)
                response = await call
                trailers = await call.trailing_metadata()
        except RpcError as error:
            await _abort(context, error)
        context.set_trailing_metadata(_pairs(trailers))
        return response.data  # type: ignore[no-any-return]

    def _server_stream(self, route: Route) -> Any:
        async def handle(
            request: bytes, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[bytes]:
            try:
                timeout, metadata = self._call_inputs(context)
                with self._failures(route):
                    call = self._caller.server_stream(
                        route.raw, RawMessage(request), timeout, metadata
                    )
                    await _send_initial(context, await call.initial_metadata())
                    async for item in call:
                        yield item.data
                    trailers = await call.trailing_metadata()
            except RpcError as error:
                await _abort(context, error)
            context.set_trailing_metadata(_pairs(trailers))

        return handle

    def _client_stream(self, route: Route) -> Any:
        async def handle(
            requests: AsyncIterable[bytes], context: aio.ServicerContext[Any, Any]
        ) -> bytes:
            return await self._one_response(
                route,
                context,
                lambda timeout, metadata: self._caller.client_stream(
                    route.raw, _raw(requests), timeout, metadata
                ),
            )

        return handle

    def _bidi_stream(self, route: Route) -> Any:
        async def handle(
            requests: AsyncIterable[bytes], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[bytes]:
            try:
                timeout, metadata = self._call_inputs(context)
                with self._failures(route):
                    call = self._caller.bidi_stream(route.raw, _raw(requests), timeout, metadata)
                    await _send_initial(context, await call.initial_metadata())
                    async for item in call:
                        yield item.data
                    trailers = await call.trailing_metadata()
            except RpcError as error:
                await _abort(context, error)
            context.set_trailing_metadata(_pairs(trailers))

        return handle


async def _raw(requests: AsyncIterable[bytes]) -> AsyncIterator[RawMessage]:
    async for request in requests:
        yield RawMessage(request)


async def _send_initial(
    context: aio.ServicerContext[Any, Any], metadata: Mapping[str, MetadataValue]
) -> None:
    pairs = _pairs(metadata)
    if pairs:
        await context.send_initial_metadata(pairs)


async def _abort(context: aio.ServicerContext[Any, Any], error: RpcError) -> None:
    trailers = _pairs(error.metadata)
    if error.details:
        # gRPC's richer error model: the whole google.rpc.Status, which grpcio-status reads.
        trailers += ((_STATUS_DETAILS_KEY, serialized_status(error)),)
    context.set_trailing_metadata(trailers)
    await context.abort(GRPC_STATUS[error.code], error.message)


async def start_grpc_server(
    handler: GatewayHandler,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    certificate: Path | None = None,
    private_key: Path | None = None,
    interceptors: Sequence[aio.ServerInterceptor] = (),
) -> tuple[aio.Server, int]:
    """Start grpcio's server on ``host:port`` (0: a free port); returns it and its port."""
    server = aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            # Two gateways on one port would split the calls between them unnoticed.
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers((handler,))
    address = f"{host}:{port}"
    if certificate is not None:
        if private_key is None:
            raise ValueError("a TLS certificate needs its private key")
        credentials = grpc.ssl_server_credentials(
            [(private_key.read_bytes(), certificate.read_bytes())]
        )
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    await server.start()
    return server, bound
