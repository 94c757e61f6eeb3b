"""The server's end of a streaming call (docs/protocol.md §9), and serving one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from natsrpc import codec
from natsrpc.metadata import MetadataLike, metadata_headers
from natsrpc.protocol import frames
from natsrpc.protocol.frames import ACCEPT, CANCEL, END, FRAME, HEARTBEAT, OPEN, SEQ, WINDOW
from natsrpc.protocol.headers import CONTENT_TYPE, deadline_from_headers, error_reply
from natsrpc.server.call_host import CallHost
from natsrpc.server.cancellation import CANCELLED_BY_CALLER
from natsrpc.server.context import Context
from natsrpc.service_api.responder import EndpointCounters
from natsrpc.spec import MethodKind, MethodSpec, RequestT
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode
from natsrpc.transport.header_blocks import header_block
from natsrpc.transport.stream_channel import Channel
from natsrpc.transport.wire import publish, subscribe

logger = logging.getLogger("natsrpc.streams")


class StreamContext(Context):
    """The context of a streaming call: a Context that can also send initial metadata."""

    __slots__ = ("_stream",)

    def __init__(
        self,
        method: MethodSpec[Any, Any],
        subject: str,
        headers: Mapping[str, str] | None,
        deadline: float | None,
        stream: ServerStream,
    ) -> None:
        super().__init__(method, subject, headers, deadline)
        self._stream = stream

    async def send_initial_metadata(self, metadata: MetadataLike) -> None:
        """Send ``metadata`` to the caller now, ahead of any response.

        Call it before the first response and before reading the first request:
        the accept frame that carries it is sent at the first of those.
        """
        stream = self._stream
        if stream.accepted:
            raise RuntimeError("initial metadata has already been sent")
        stream.initial_metadata = metadata_headers(metadata)
        await stream.accept()


class ServerStream(Channel):
    def __init__(
        self,
        nc: NATS,
        client_inbox: str,
        window: int,
        heartbeat: float,
    ) -> None:
        super().__init__(nc, window, heartbeat)
        self.peer = client_inbox
        self.accepted = False
        self.initial_metadata: dict[str, str] | None = None
        self.task: asyncio.Task[Any] | None = None
        self.running = False
        """True while the handler runs, the only time a failure may cancel the task."""
        self.quiet = False
        """The caller cancelled or vanished, so the call ends without an end frame."""

    async def open(self, headers: Mapping[str, str]) -> None:
        self.json = codec.is_json(headers.get(CONTENT_TYPE))
        self.credit = frames.positive_int(headers.get(WINDOW), 1)
        self.peer_heartbeat = frames.heartbeat_seconds(headers.get(HEARTBEAT))
        self.inbox = self.nc.new_inbox()
        self.subscription = await subscribe(self.nc, self.inbox, self._on_msg)
        self._start_heartbeat()

    async def accept(self) -> None:
        if self.accepted:
            return
        self.accepted = True
        headers = dict(self.initial_metadata) if self.initial_metadata else {}
        headers[FRAME] = ACCEPT
        headers[WINDOW] = str(self.window)
        headers[HEARTBEAT] = frames.heartbeat_header(self.heartbeat)
        if self.json:
            headers[CONTENT_TYPE] = codec.JSON
        assert self.peer is not None
        self.last_sent = time.monotonic()
        # The client can only speak once it has our inbox, so its silence counts from here.
        self.last_heard = self.last_sent
        await publish(self.nc, self.peer, b"", self.inbox, header_block(headers))

    def _on_msg(self, msg: Msg) -> None:
        # Runs in nats-py's reader: it must never wait.
        self.last_heard = time.monotonic()
        frame = (msg.headers or {}).get(FRAME, "")
        if self._on_data(frame, msg):
            return
        if frame == CANCEL:
            # The caller has gone away; it needs no end frame.
            self.quiet = True
            self._fail(RpcError(StatusCode.CANCELLED, CANCELLED_BY_CALLER))

    def local_failure(self) -> RpcError | None:
        """A failure this end detected (the caller cancelled or vanished, a broken sequence)."""
        return self.error

    def _fail(self, error: RpcError) -> None:
        if self.error is not None:
            return
        if error.code is StatusCode.UNAVAILABLE:
            # Only the liveness check fails a server stream with UNAVAILABLE:
            # the caller is gone and cannot hear an end frame.
            self.quiet = True
        self.error = error
        self.changed.set()
        if self.running and self.task is not None:
            self.task.cancel()

    async def requests(self, message_type: type[RequestT]) -> AsyncIterator[RequestT]:
        while True:
            await self.accept()
            payload = await self._next_payload()
            if payload is None:
                return
            yield codec.decode(message_type, payload, self.json)

    async def send(self, method: MethodSpec[Any, Any], response: Any) -> None:
        payload = codec.encode_response(method, response, self.json)
        if not self.accepted:
            await self.accept()
        await self._send_message(payload)

    async def finish(
        self, error: RpcError | None, trailers: Mapping[str, str] | None, endpoint: str = ""
    ) -> None:
        self._stop_timers()
        if not self.quiet:
            end = {FRAME: END, SEQ: str(self.sent)}
            if self.json and not self.accepted:
                end[CONTENT_TYPE] = codec.JSON
            payload = b""
            if error:
                max_payload = self.nc.max_payload
                headers, payload = error_reply(
                    error, trailers, self.json, max_payload, endpoint, end
                )
            else:
                headers = dict(trailers or ())
                headers.update(end)
            assert self.peer is not None
            try:
                block = header_block(headers)
            except Exception as exc:
                logger.debug("could not send the end frame to %s: %s", self.peer, exc)
            else:
                await self._publish_quietly(self.peer, payload, block)
        await self._unsubscribe()


async def serve_stream(
    host: CallHost,
    method: MethodSpec[Any, Any],
    handler: Callable[..., Any],
    stats: EndpointCounters,
    msg: Msg,
) -> None:
    """Run one streaming call from its open frame to its end frame."""
    started = time.perf_counter_ns()
    if not msg.reply:
        # Nobody to stream to; a stray publish on the method subject.
        stats.record("stream opened without a reply inbox")
        return
    headers = msg.headers or {}
    if headers.get(FRAME) != OPEN:
        # Most likely a plain request from a tool: answer it as a unary error,
        # which is all such a caller can read.
        refusal = RpcError(
            StatusCode.INVALID_ARGUMENT,
            f"{method.path} is a streaming method; open it with an 'Rpc-Frame: open' message",
        )
        stats.record(str(refusal))
        await host.reply_error(msg, refusal, None)
        return
    deadline = deadline_from_headers(headers)
    stream = ServerStream(host.nc, msg.reply, host.stream_window, host.heartbeat)
    stream.max_message_bytes = host.max_message_bytes
    context = StreamContext(method, msg.subject, headers, deadline, stream)
    outcome = await host.supervisor.run(
        method, _serve(method, handler, msg, stream, context), deadline, stream.local_failure
    )
    error = outcome.error or stream.error
    stats.record(None if error is None else str(error), time.perf_counter_ns() - started)
    await stream.finish(error, context._response_headers, method.path)
    if outcome.forced_stop:
        raise asyncio.CancelledError


async def _serve(
    method: MethodSpec[Any, Any],
    handler: Callable[..., Any],
    msg: Msg,
    stream: ServerStream,
    context: StreamContext,
) -> None:
    stream.task = asyncio.current_task()
    stream.running = True
    try:
        await stream.open(msg.headers or {})
        if method.kind is MethodKind.SERVER_STREAMING:
            request = codec.decode(method.request_type, msg.data, stream.json)
            await _relay(method, handler(request, context), stream)
        elif method.kind is MethodKind.CLIENT_STREAMING:
            response = await handler(stream.requests(method.request_type), context)
            await stream.send(method, response)
        else:
            await _relay(method, handler(stream.requests(method.request_type), context), stream)
    finally:
        stream.running = False


async def response_iterable(method: MethodSpec[Any, Any], responses: Any) -> AsyncIterable[Any]:
    """What a streaming handler returned, as the async iterable of its responses."""
    if isinstance(responses, Awaitable):
        # An ``async def`` that returns an iterator rather than yielding.
        responses = await responses
    if not isinstance(responses, AsyncIterable):
        logger.error("%s must be an async generator, not %s", method.path, type(responses))
        raise RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
    return responses


async def _relay(method: MethodSpec[Any, Any], responses: Any, stream: ServerStream) -> None:
    responses = await response_iterable(method, responses)
    try:
        async for response in responses:
            await stream.send(method, response)
    finally:
        aclose = getattr(responses, "aclose", None)
        if aclose is not None:
            await aclose()
