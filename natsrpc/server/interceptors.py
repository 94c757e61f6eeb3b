"""Server interceptors: code that wraps every handler of a server, in the style of grpc.aio's.

An interceptor sees each call before and after the handler, through a
``call_next`` continuation: it may change the request, the response or the
metadata, fail the call (raise ``RpcError``), or turn a failure into another
one. Interceptors run in the order they were registered, the first registered
outermost. With none registered, the server keeps each handler as it is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from google.protobuf.message import Message

from natsrpc.server.context import Context
from natsrpc.server.stream import response_iterable
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode

logger = logging.getLogger("natsrpc.interceptors")

UnaryHandler = Callable[[Message, Context], Awaitable[Message]]
"""The rest of a unary call's server chain: ``await call_next(request, context)``."""
StreamHandler = Callable[[AsyncIterator[Message], Context], AsyncIterator[Message]]
"""The rest of a streaming call's server chain: requests in, responses out."""

PROCESS_INTERCEPTORS: list[ServerInterceptor] = []
"""Run outside its own by every Server made afterwards; ``natsrpc.metrics.enable()`` adds one."""


class ServerInterceptor:
    """Wraps the handlers of a ``Server``; override the methods for the calls you care about.

    Both methods pass the call on unchanged by default.
    """

    unary_calls: bool = True
    """False leaves this interceptor out of unary chains (RPC and event handlers),
    which then cost nothing for it; it still wraps streams."""

    async def intercept_unary(
        self,
        request: Message,
        context: Context,
        method: MethodSpec[Any, Any],
        call_next: UnaryHandler,
    ) -> Message:
        """Serve one unary call: ``return await call_next(request, context)``.

        Raise ``RpcError`` (or ``context.abort()``) to fail the call without
        running the handler. When the deadline passes or the server stops, the
        handler is cancelled and ``asyncio.CancelledError`` passes through here;
        ``status_of(error, context)`` tells which status the caller gets.
        """
        return await call_next(request, context)

    def intercept_stream(
        self,
        requests: AsyncIterator[Message],
        context: Context,
        method: MethodSpec[Any, Any],
        call_next: StreamHandler,
    ) -> AsyncIterator[Message]:
        """Serve one streaming call of any kind, seen as requests in and responses out.

        Write it as an async generator::

            async def intercept_stream(self, requests, context, method, call_next):
                async for response in call_next(requests, context):
                    yield response

        A server-streaming call's ``requests`` holds its one request; a
        client-streaming call must produce exactly one response. Wrap
        ``requests`` or the responses to see or change each message. Errors the
        handler raises pass through; if the call ends while a response is being
        sent (the caller cancelled or went away), the generator is closed instead.
        """
        return call_next(requests, context)


def intercept_handler(
    interceptors: Sequence[ServerInterceptor],
    method: MethodSpec[Any, Any],
    handler: Callable[..., Any],
) -> Callable[..., Any]:
    """``handler`` wrapped in ``interceptors``, with the handler's own signature.

    Built once per method when the service is added, so the server's serving
    code stays the same with or without interceptors.
    """
    chain = tuple(interceptors)
    if method.kind is MethodKind.UNARY:
        return _unary_chain(tuple(i for i in chain if i.unary_calls), method, handler)
    if method.kind is MethodKind.SERVER_STREAMING:
        return _server_streaming(chain, method, handler)
    if method.kind is MethodKind.CLIENT_STREAMING:
        return _client_streaming(chain, method, handler)
    return _bidi_streaming(chain, method, handler)


def _unary_chain(
    chain: tuple[ServerInterceptor, ...], method: MethodSpec[Any, Any], handler: UnaryHandler
) -> UnaryHandler:
    call = handler
    for interceptor in reversed(chain):
        call = _unary_link(interceptor, method, call)
    return call


def _unary_link(
    interceptor: ServerInterceptor, method: MethodSpec[Any, Any], call_next: UnaryHandler
) -> UnaryHandler:
    def call(request: Message, context: Context) -> Awaitable[Message]:
        return interceptor.intercept_unary(request, context, method, call_next)

    return call


async def _stream_chain(
    chain: tuple[ServerInterceptor, ...],
    method: MethodSpec[Any, Any],
    innermost: StreamHandler,
    requests: AsyncIterator[Message],
    context: Context,
) -> AsyncIterator[Message]:
    # Interceptors written as ``async for ... yield`` do not close the iterator
    # they got from call_next when they are closed themselves; closing every
    # layer here runs the handler's own cleanup now, not at garbage collection.
    opened: list[AsyncIterator[Message]] = []

    def layer(index: int) -> StreamHandler:
        def call_next(reqs: AsyncIterator[Message], ctx: Context) -> AsyncIterator[Message]:
            if index == len(chain):
                responses = innermost(reqs, ctx)
            else:
                responses = chain[index].intercept_stream(reqs, ctx, method, layer(index + 1))
            opened.append(responses)
            return responses

        return call_next

    try:
        async for response in layer(0)(requests, context):
            yield response
    finally:
        for responses in opened:
            await _aclose(responses)


async def _closing(responses: AsyncIterable[Message]) -> AsyncIterator[Message]:
    """``responses`` passed through, closed when this generator is closed."""
    try:
        async for response in responses:
            yield response
    finally:
        await _aclose(responses)


async def _aclose(responses: AsyncIterable[Message]) -> None:
    aclose = getattr(responses, "aclose", None)
    if aclose is not None:
        await aclose()


async def _one(request: Message) -> AsyncIterator[Message]:
    yield request


def _server_streaming(
    chain: tuple[ServerInterceptor, ...], method: MethodSpec[Any, Any], handler: Callable[..., Any]
) -> Callable[[Message, Context], AsyncIterator[Message]]:
    async def innermost(
        requests: AsyncIterator[Message], context: Context
    ) -> AsyncIterator[Message]:
        request = await anext(requests, None)
        if request is None:
            raise RpcError(
                StatusCode.INTERNAL, f"{method.path}: an interceptor dropped the request"
            )
        async for response in _closing(await response_iterable(method, handler(request, context))):
            yield response

    def serve(request: Message, context: Context) -> AsyncIterator[Message]:
        return _stream_chain(chain, method, innermost, _one(request), context)

    return serve


def _client_streaming(
    chain: tuple[ServerInterceptor, ...], method: MethodSpec[Any, Any], handler: Callable[..., Any]
) -> Callable[[AsyncIterator[Message], Context], Awaitable[Message]]:
    async def innermost(
        requests: AsyncIterator[Message], context: Context
    ) -> AsyncIterator[Message]:
        yield await handler(requests, context)

    async def serve(requests: AsyncIterator[Message], context: Context) -> Message:
        responses = [r async for r in _stream_chain(chain, method, innermost, requests, context)]
        if len(responses) != 1:
            logger.error(
                "%s: the interceptors produced %d responses for a client-streaming call",
                method.path,
                len(responses),
            )
            raise RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
        return responses[0]

    return serve


def _bidi_streaming(
    chain: tuple[ServerInterceptor, ...], method: MethodSpec[Any, Any], handler: Callable[..., Any]
) -> StreamHandler:
    async def innermost(
        requests: AsyncIterator[Message], context: Context
    ) -> AsyncIterator[Message]:
        async for response in _closing(await response_iterable(method, handler(requests, context))):
            yield response

    def serve(requests: AsyncIterator[Message], context: Context) -> AsyncIterator[Message]:
        return _stream_chain(chain, method, innermost, requests, context)

    return serve
