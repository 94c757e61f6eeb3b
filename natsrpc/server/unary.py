"""Serving one unary call: decode, run the handler, encode, reply."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from time import perf_counter_ns
from typing import Any

from nats.aio.msg import Msg

from natsrpc import codec, telemetry
from natsrpc.protocol.headers import CONTENT_TYPE, deadline_from_headers
from natsrpc.server.call_host import CallHost
from natsrpc.server.cancellation import CANCELLED_BY_CALLER
from natsrpc.server.context import Context
from natsrpc.server.first_step import begin
from natsrpc.server.outcome import Outcome
from natsrpc.service_api.responder import EndpointCounters
from natsrpc.spec import MethodSpec
from natsrpc.status import RpcError, StatusCode

Handler = Callable[[Any, Context], Awaitable[Any]]
# A member of an Enum class is looked up through its metaclass's __getattr__
# hook, several times a module global's cost: the hot path reads it once.
_OK = StatusCode.OK
Rest = Coroutine[Any, Any, None]
"""What is left of serving a call that could not finish at once, for the runner to await."""


def serve_unary(
    host: CallHost,
    method: MethodSpec[Any, Any],
    handler: Handler,
    stats: EndpointCounters,
    msg: Msg,
) -> Rest | None:
    """Serve the call ``msg`` opened; None if it is done, else the rest to await.

    Most handlers finish without waiting: then the whole call, reply included,
    runs here in the runner's step, without a coroutine of its own.
    """
    started = perf_counter_ns()
    cancellation = host.supervisor.cancellation
    if cancellation.withdrawn and cancellation.take_withdrawn(msg.reply):
        given_up = RpcError(StatusCode.CANCELLED, CANCELLED_BY_CALLER)
        _count(stats, method, given_up, started)
        return host.reply_error(msg, given_up, None)
    headers = msg.headers
    context = Context(method, msg.subject, headers, deadline_from_headers(headers))
    json = False
    try:
        content_type = headers.get(CONTENT_TYPE) if headers else None
        json = codec.is_json(content_type) if content_type else False
        request = codec.decode(method.request_type, msg.data, json)
    except RpcError as exc:
        outcome: Outcome[Any] = Outcome(None, exc)
    else:
        started_call = begin(handler(request, context))
        if not isinstance(started_call, Outcome):
            return _finish(host, stats, msg, context, json, started, started_call)
        outcome = started_call
    return _reply(host, stats, msg, context, json, started, outcome)


async def _finish(
    host: CallHost,
    stats: EndpointCounters,
    msg: Msg,
    context: Context,
    json: bool,
    started: int,
    handler_call: Awaitable[Any],
) -> None:
    """The rest of a call whose handler waits: under its deadline, cancellable by its caller."""
    outcome = await host.supervisor.run(
        context.method, handler_call, context._deadline, call_id=msg.reply
    )
    rest = _reply(host, stats, msg, context, json, started, outcome)
    if rest is not None:
        await rest


def _reply(
    host: CallHost,
    stats: EndpointCounters,
    msg: Msg,
    context: Context,
    json: bool,
    started: int,
    outcome: Outcome[Any],
) -> Rest | None:
    error = outcome.error
    trailers = context._response_headers
    if outcome.forced_stop:
        assert error is not None
        _count(stats, context.method, error, started)
        return _reply_and_stop(host, msg, error, trailers)
    payload = b""
    if error is None:
        try:
            payload = codec.encode_response(context.method, outcome.result, json)
            codec.check_size(len(payload), host.nc.max_payload, "response")
        except RpcError as exc:
            error = exc
    _count(stats, context.method, error, started)
    if error is not None:
        return host.reply_error(msg, error, trailers, json, context.method.path)
    if not msg.reply:
        return None
    if json:
        trailers = dict(trailers or ())
        trailers[CONTENT_TYPE] = codec.JSON
    return host.send(msg.reply, payload, trailers)


def _count(
    stats: EndpointCounters, method: MethodSpec[Any, Any], error: RpcError | None, started: int
) -> None:
    """A call served: in the ADR-32 statistics and, while metrics are on, in the metrics."""
    elapsed = perf_counter_ns() - started
    stats.record(None if error is None else str(error), elapsed)
    served = telemetry.unary_served
    if served is not None:
        served(method, _OK if error is None else error.code, elapsed)


async def _reply_and_stop(
    host: CallHost, msg: Msg, error: RpcError, trailers: Mapping[str, str] | None
) -> None:
    # The server cancelled the handler while stopping: the caller hears why,
    # and the runner's cancellation goes on.
    await host.reply_error(msg, error, trailers)
    raise asyncio.CancelledError
