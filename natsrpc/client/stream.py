"""The client's end of a streaming call (docs/protocol.md §9): opening, deadline, cancel."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nats.aio.msg import Msg

from natsrpc import codec
from natsrpc.client.call import CALL_CANCELLED
from natsrpc.client.config import CallConfig
from natsrpc.metadata import MetadataLike, MetadataValue, metadata_headers, user_metadata
from natsrpc.protocol import frames
from natsrpc.protocol.frames import ACCEPT, END, FRAME, HEARTBEAT, OPEN, SEQ, WINDOW
from natsrpc.protocol.headers import (
    CONTENT_TYPE,
    TIMEOUT,
    error_from_headers,
    is_error,
    timeout_header,
)
from natsrpc.spec import EMPTY_METADATA, MethodSpec, ResponseT
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.connection import (
    CONNECTION_ERRORS,
    connection_unusable,
    is_no_responders,
)
from natsrpc.transport.header_blocks import header_block
from natsrpc.transport.stream_channel import CANCEL_BLOCK, Channel
from natsrpc.transport.tasks import spawn
from natsrpc.transport.wire import prepare, publish, subscribe

CANCEL_LISTEN_LIMIT = 30.0
"""Seconds a call cancelled before the server accepted it keeps listening for the accept,
to cancel the server's handler; the call's own timeout when that is shorter."""


class ClientStream(Channel):
    def __init__(
        self,
        config: CallConfig,
        method: MethodSpec[Any, Any],
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> None:
        super().__init__(config.nc, config.window, config.heartbeat)
        self.json = config.json
        self.method = method
        self.subject = config.subject(method)
        self.timeout = config.resolve_timeout(method, timeout)
        self.metadata_headers = metadata_headers(metadata) if metadata else {}
        self.accepted = asyncio.Event()
        self.initial: Mapping[str, MetadataValue] = EMPTY_METADATA
        self.trailers: Mapping[str, MetadataValue] | None = None
        self.finished = False
        """Nothing more will arrive: the server ended the call or it failed here."""
        self.cancel_pending = False
        self.deadline_timer: asyncio.TimerHandle | None = None
        self.close_callbacks: list[Callable[[], None]] = []
        """Called once when the call ends: the call object, and client interceptors."""

    async def start(self, payload: bytes) -> None:
        nc = self.nc
        codec.check_size(len(payload), nc.max_payload, "request")
        prepare(nc)
        headers = dict(self.metadata_headers)
        headers[FRAME] = OPEN
        headers[WINDOW] = str(self.window)
        headers[HEARTBEAT] = frames.heartbeat_header(self.heartbeat)
        timeout = timeout_header(self.timeout)
        if timeout is not None:
            headers[TIMEOUT] = timeout
        if self.json:
            headers[CONTENT_TYPE] = codec.JSON
        loop = asyncio.get_running_loop()
        self.inbox = nc.new_inbox()
        try:
            self.subscription = await subscribe(nc, self.inbox, self._on_msg)
            # SUB and PUB travel in order on one connection, so the answer
            # cannot outrun the subscription.
            await publish(nc, self.subject, payload, self.inbox, header_block(headers))
        except CONNECTION_ERRORS as exc:
            error = connection_unusable(exc)
            self._fail(error)
            raise error from None
        if self.finished:
            # Cancelled while the open frame went out.
            return
        if self.timeout != math.inf:
            self.deadline_timer = loop.call_later(self.timeout, self._expire)
        self._start_heartbeat()

    def _expire(self) -> None:
        self._fail(
            RpcError(
                StatusCode.DEADLINE_EXCEEDED,
                f"{self.subject} did not finish within {self.timeout:g}s",
            )
        )

    def _on_msg(self, msg: Msg) -> None:
        # Runs in nats-py's reader: it must never wait.
        headers = msg.headers or {}
        frame = headers.get(FRAME)
        if self.finished:
            if self.cancel_pending and frame in (ACCEPT, END):
                if frame == ACCEPT and msg.reply:
                    self.peer = msg.reply
                    self._post(CANCEL_BLOCK)
                if self.deadline_timer is not None:
                    self.deadline_timer.cancel()
                self._stop_listening()
            return
        self.last_heard = time.monotonic()
        if HEARTBEAT in headers:
            self.peer_heartbeat = frames.heartbeat_seconds(headers[HEARTBEAT])
        if frame is None:
            if is_no_responders(msg.data, headers):
                self._fail(
                    RpcError(StatusCode.UNAVAILABLE, f"no service is serving {self.subject}")
                )
            elif is_error(headers):
                # A plain ADR-32 error reply, as a server sends when it sheds load.
                self.peer_ended = True
                self._on_peer_end(headers, msg.data)
            return
        if frame == ACCEPT:
            if self.peer is not None:
                return
            self.peer = msg.reply or None
            self.credit = frames.positive_int(headers.get(WINDOW), 1)
            self.initial = MappingProxyType(user_metadata(headers))
            self.accepted.set()
            self.changed.set()
            return
        self._on_data(frame, msg)

    def _on_peer_end(self, headers: Mapping[str, str], payload: bytes) -> None:
        if is_error(headers):
            self.end_error = error_from_headers(headers, payload)
            self.trailers = self.end_error.metadata
        else:
            self.trailers = MappingProxyType(user_metadata(headers))
        self.accepted.set()
        self.changed.set()
        self._close()

    def _fail(self, error: RpcError) -> None:
        if self.finished:
            return
        self.error = error
        self.trailers = error.metadata
        if self.peer is not None:
            self._post(CANCEL_BLOCK)
        else:
            # The server may not have answered yet; cancel as soon as it does.
            self.cancel_pending = True
        self.accepted.set()
        self.changed.set()
        self._close()

    def _close(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._stop_timers()
        for callback in self.close_callbacks:
            callback()
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        if self.cancel_pending:
            # Listen on for the accept frame, but no longer than the call could last.
            loop = asyncio.get_running_loop()
            self.deadline_timer = loop.call_later(
                min(self.timeout, CANCEL_LISTEN_LIMIT), self._stop_listening
            )
        else:
            self._stop_listening()

    def _stop_listening(self) -> None:
        self.cancel_pending = False
        spawn(self._unsubscribe())

    def _check_writable(self) -> None:
        if self.finished:
            if self.error is not None:
                raise self.error
            if self.end_error is not None:
                raise self.end_error
            raise RpcError(StatusCode.FAILED_PRECONDITION, "the server has already ended the call")

    async def write(self, payload: bytes) -> None:
        if self.ended:
            raise RuntimeError("done_writing() was called; no more messages can be written")
        self._check_writable()
        try:
            codec.check_size(len(payload), self.nc.max_payload, "request message")
        except RpcError as error:
            # The message cannot be sent, so the call cannot go on as the caller meant
            # it: it fails now, and the server's handler, left waiting for the message,
            # is cancelled (at once, or when its accept arrives).
            self._fail(error)
            raise
        await self._send_message(payload)

    async def done_writing(self) -> None:
        if self.ended:
            return
        while self.peer is None and not self.finished:
            self.changed.clear()
            await self.changed.wait()
        if self.finished:
            return
        self.ended = True
        assert self.peer is not None
        self.last_sent = time.monotonic()
        await publish(self.nc, self.peer, b"", "", header_block({FRAME: END, SEQ: str(self.sent)}))

    async def read(self, message_type: type[ResponseT]) -> ResponseT | None:
        payload = await self._next_payload()
        if payload is None:
            return None
        try:
            return codec.decode(message_type, payload, self.json)
        except RpcError as error:
            # A response we cannot read is the server's fault, not the caller's argument.
            failure = RpcError(StatusCode.INTERNAL, f"{self.method.path}: {error.message}")
            self._fail(failure)
            raise failure from None

    def cancel(self) -> bool:
        if self.finished:
            return False
        self._fail(RpcError(StatusCode.CANCELLED, CALL_CANCELLED))
        return True
