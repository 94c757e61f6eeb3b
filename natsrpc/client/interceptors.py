"""Client interceptors: code that wraps every call a client makes, in the style of grpc.aio's.

An interceptor sees each call before and after it is made, through a
``call_next`` continuation: it may change what goes in (request, metadata,
timeout), change what comes out (response), fail the call (raise
``RpcError``), or turn a failure into another one. Interceptors run in the
order they were registered, the first registered outermost: it sees the call
first and its outcome last. With none registered, nothing here runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.message import Message

from natsrpc.metadata import MetadataValue
from natsrpc.spec import MethodSpec


@dataclass(frozen=True)
class CallDetails:
    """What a client call sends besides its request; interceptors may pass on a changed copy."""

    method: MethodSpec[Any, Any]
    """The method called. Another method of the same kind may be substituted."""
    metadata: dict[str, MetadataValue]
    """The call's metadata, keys lower-cased; this call's own dict, so it may be changed."""
    timeout: float
    """Seconds the call may take in all, sent to the server as its deadline;
    ``math.inf`` (``natsrpc.NO_TIMEOUT``) for a call without one."""

    def replace(self, **changes: Any) -> CallDetails:
        """A copy with some fields changed, like ``dataclasses.replace``."""
        return replace(self, **changes)


UnaryInvoker = Callable[[Message, CallDetails], Awaitable[Message]]
"""The rest of a unary call's client chain: ``await call_next(request, details)``."""
StreamInvoker = Callable[[CallDetails], Awaitable[None]]
"""The rest of a streaming call's client chain: opens the call, returns when it has ended."""

PROCESS_INTERCEPTORS: list[ClientInterceptor] = []
"""Run outside its own by every client and publisher made afterwards (``natsrpc.metrics``)."""


class ClientInterceptor:
    """Wraps the calls of a ``Client``; override the methods for the calls you care about.

    Both methods pass the call on unchanged by default.
    """

    unary_calls: bool = True
    """False leaves this interceptor out of unary RPC calls' chains, which then cost
    nothing for it; it still wraps streams and events published."""

    async def intercept_unary(
        self, request: Message, details: CallDetails, call_next: UnaryInvoker
    ) -> Message:
        """Make one unary call: ``return await call_next(request, details)``.

        Everything may change here: the request and details going in, the
        response coming out, and the error raised (every failure is an
        ``RpcError``). Calling ``call_next`` more than once sends more requests.
        """
        return await call_next(request, details)

    async def intercept_stream(self, details: CallDetails, call_next: StreamInvoker) -> None:
        """Watch one streaming call: ``await call_next(details)``.

        ``call_next`` opens the call with ``details`` and returns once the call
        has ended, raising ``RpcError`` when it failed. The caller reads and
        writes messages meanwhile; the status it sees is the call's own, so a
        stream interceptor can change the details but not the outcome. Raising
        before ``call_next`` fails the call without sending anything.
        """
        await call_next(details)

    async def intercept_stream_request(self, request: Message, details: CallDetails) -> Message:
        """See or replace each message a streaming call sends; return what goes out.

        The first registered interceptor sees the caller's message first.
        """
        return request

    async def intercept_stream_response(self, response: Message, details: CallDetails) -> Message:
        """See or replace each message a streaming call receives; return what the caller reads.

        The last registered interceptor sees the server's message first.
        """
        return response


def unary_invoker(
    interceptors: Sequence[ClientInterceptor], innermost: UnaryInvoker
) -> UnaryInvoker:
    """``innermost`` (one request sent) wrapped in ``interceptors``, the first outermost."""
    call = innermost
    for interceptor in reversed(interceptors):
        call = _client_unary_link(interceptor, call)
    return call


def _client_unary_link(interceptor: ClientInterceptor, call_next: UnaryInvoker) -> UnaryInvoker:
    def call(request: Message, details: CallDetails) -> Awaitable[Message]:
        return interceptor.intercept_unary(request, details, call_next)

    return call


def stream_invoker(
    interceptors: Sequence[ClientInterceptor], innermost: StreamInvoker
) -> StreamInvoker:
    """``innermost`` (the call opened and awaited) wrapped in ``interceptors``."""
    call = innermost
    for interceptor in reversed(interceptors):
        call = _client_stream_link(interceptor, call)
    return call


def _client_stream_link(interceptor: ClientInterceptor, call_next: StreamInvoker) -> StreamInvoker:
    def call(details: CallDetails) -> Awaitable[None]:
        return interceptor.intercept_stream(details, call_next)

    return call


def message_interceptors(
    interceptors: Sequence[ClientInterceptor],
) -> tuple[tuple[ClientInterceptor, ...], tuple[ClientInterceptor, ...]]:
    """The interceptors that look at stream requests and at stream responses, in calling order.

    Only those that override the hooks, so that a stream pays per message only
    for interceptors that want to see messages.
    """
    requests = tuple(
        i
        for i in interceptors
        if type(i).intercept_stream_request is not ClientInterceptor.intercept_stream_request
    )
    responses = tuple(
        i
        for i in reversed(interceptors)
        if type(i).intercept_stream_response is not ClientInterceptor.intercept_stream_response
    )
    return requests, responses
