"""Serving one unary call: decode, run the handler, encode, reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

from natsrpc import codec
from natsrpc.protocol.headers import CONTENT_TYPE, deadline_from_headers
from natsrpc.server.context import Context
from natsrpc.server.outcome import CANCELLED_BY_CALLER
from natsrpc.server.serving import Serving
from natsrpc.service_api.responder import EndpointCounters
from natsrpc.spec import MethodSpec
from natsrpc.status import RpcError, StatusCode

Handler = Callable[[Any, Context], Awaitable[Any]]


async def serve_unary(
    serving: Serving,
    method: MethodSpec[Any, Any],
    handler: Handler,
    stats: EndpointCounters,
    msg: Msg,
) -> None:
    started = time.perf_counter_ns()
    if serving.withdrawn and msg.reply in serving.withdrawn:
        serving.withdrawn.discard(msg.reply)
        given_up = RpcError(StatusCode.CANCELLED, CANCELLED_BY_CALLER)
        stats.record(str(given_up), time.perf_counter_ns() - started)
        await serving.reply_error(msg, given_up, None)
        return
    headers = msg.headers
    deadline = deadline_from_headers(headers)
    context = Context(method, msg.subject, headers, deadline)
    payload = b""
    json = False
    try:
        content_type = headers.get(CONTENT_TYPE) if headers else None
        json = codec.is_json(content_type) if content_type else False
        request = codec.decode(method.request_type, msg.data, json)
    except RpcError as exc:
        error: RpcError | None = exc
    else:
        outcome = await serving.outcomes.run(
            method, handler(request, context), deadline, call_id=msg.reply
        )
        error = outcome.error
        if outcome.forced_stop:
            stats.record(str(error), time.perf_counter_ns() - started)
            assert error is not None
            await serving.reply_error(msg, error, context._response_headers)
            raise asyncio.CancelledError
        if error is None:
            try:
                payload = codec.encode_response(method, outcome.result, json)
                codec.check_size(len(payload), serving.nc.max_payload, "response")
            except RpcError as exc:
                error = exc
    stats.record(None if error is None else str(error), time.perf_counter_ns() - started)
    if error is not None:
        await serving.reply_error(msg, error, context._response_headers)
    elif msg.reply:
        reply_headers = context._response_headers
        if json:
            reply_headers = dict(reply_headers or ())
            reply_headers[CONTENT_TYPE] = codec.JSON
        await serving.publish(msg.reply, payload, reply_headers)
