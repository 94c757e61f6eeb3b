"""Streaming calls (docs/protocol.md §9): frames, flow control, liveness and call objects.

Both ends of a stream share one state machine, ``_Channel``: it numbers and
checks message frames, keeps at most its window of received messages, grants
credit as the application consumes them, lets a writer send only with credit,
and fails the call when the peer goes quiet. ``_ServerStream`` and
``_ClientStream`` add what differs: who opens, who answers, who ends the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
)
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic

from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc import codec, wire
from natsrpc.context import Context
from natsrpc.service_api import EndpointStats
from natsrpc.spec import EMPTY_METADATA, MethodKind, MethodSpec, RequestT, ResponseT
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode, status_from_wire

if TYPE_CHECKING:
    from natsrpc.client import Client
    from natsrpc.interceptors import ClientInterceptor

logger = logging.getLogger("natsrpc.streams")

FRAME = "Rpc-Frame"
SEQ = "Rpc-Seq"
WINDOW = "Rpc-Window"
CREDIT = "Rpc-Credit"
HEARTBEAT = "Rpc-Heartbeat-Ms"

OPEN = "open"
ACCEPT = "accept"
MSG = "msg"
END = "end"
GRANT = "credit"
CANCEL = "cancel"
HB = "hb"

DEFAULT_WINDOW = 16
"""Message frames a receiver buffers at most; the sender needs credit for more."""
DEFAULT_HEARTBEAT = 1.0
"""Seconds of silence after which a side sends a heartbeat frame."""
MISSED_HEARTBEATS = 3
"""Heartbeat intervals of silence after which a peer counts as gone."""


# Fire-and-forget publishes (credit, heartbeat, cancel) must not be garbage
# collected while they run.
_background: set[asyncio.Task[Any]] = set()


def _spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def _positive_int(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


class _Channel:
    """One side of a stream: sequence numbers, windows, credit and liveness."""

    def __init__(self, nc: NATS, window: int, heartbeat: float) -> None:
        self.nc = nc
        self.window = window
        self.heartbeat = heartbeat
        self.max_message_bytes: int | None = None
        """Larger incoming messages end the call with RESOURCE_EXHAUSTED unparsed."""
        self.json = False
        self.inbox = ""
        self.peer: str | None = None
        self.peer_heartbeat: float | None = None
        self.subscription: Subscription | None = None
        # Receiving.
        self.buffer: deque[bytes] = deque()
        self.received = 0
        self.ungranted = 0
        self.peer_ended = False
        self._buffered_high_water = 0
        """Most message frames ever held unread; never above ``window``."""
        # Sending.
        self.sent = 0
        self.credit = 0
        self.ended = False
        # Liveness: monotonic times of the last frame each way; 0 means not yet.
        self.last_heard = 0.0
        self.last_sent = time.monotonic()
        self.error: RpcError | None = None
        """A local failure: raised at once, ahead of anything still buffered."""
        self.end_error: RpcError | None = None
        """The status the peer ended with: raised once everything before it is read."""
        self.changed = asyncio.Event()
        self.heartbeat_task: asyncio.Task[None] | None = None

    # -- receiving --------------------------------------------------------

    def _on_data(self, frame: str, msg: Msg) -> bool:
        """Handle the frames both directions share; False if ``frame`` is not one of them."""
        headers = msg.headers or {}
        if frame == MSG:
            seq = headers.get(SEQ)
            if self.peer_ended or seq != str(self.received + 1):
                self._data_loss(f"message frame {seq} arrived after frame {self.received}")
                return True
            if len(self.buffer) >= self.window:
                self._protocol_error("the peer sent message frames beyond its credit")
                return True
            if self.max_message_bytes is not None and len(msg.data) > self.max_message_bytes:
                self._fail(
                    RpcError(
                        StatusCode.RESOURCE_EXHAUSTED,
                        f"message of {len(msg.data)} bytes exceeds the limit "
                        f"of {self.max_message_bytes} bytes",
                    )
                )
                return True
            self.received += 1
            self.buffer.append(msg.data)
            self._buffered_high_water = max(self._buffered_high_water, len(self.buffer))
        elif frame == END:
            seq = headers.get(SEQ, "0")
            if self.peer_ended or seq != str(self.received):
                self._data_loss(f"end frame says {seq} messages, {self.received} arrived")
                return True
            self.peer_ended = True
            self._on_peer_end(headers)
        elif frame == GRANT:
            self.credit += _positive_int(headers.get(CREDIT), 0)
        elif frame != HB:
            return False
        self.changed.set()
        return True

    def _on_peer_end(self, headers: Mapping[str, str]) -> None:
        pass

    def _data_loss(self, detail: str) -> None:
        self._fail(RpcError(StatusCode.DATA_LOSS, f"stream sequence broken: {detail}"))

    def _protocol_error(self, detail: str) -> None:
        self._fail(RpcError(StatusCode.INTERNAL, detail))

    def _fail(self, error: RpcError) -> None:
        raise NotImplementedError

    async def _next_payload(self) -> bytes | None:
        """The next received message, or None once the peer has ended cleanly."""
        while True:
            if self.error is not None:
                raise self.error
            if self.buffer:
                payload = self.buffer.popleft()
                self._consumed()
                return payload
            if self.peer_ended:
                if self.end_error is not None:
                    raise self.end_error
                return None
            self.changed.clear()
            await self.changed.wait()

    def _consumed(self) -> None:
        # Credit goes back in batches of half a window: one frame per message
        # would double the traffic, a whole window would stall the sender.
        self.ungranted += 1
        if self.ungranted >= max(1, self.window // 2) and not self.peer_ended and self.peer:
            grant = self.ungranted
            self.ungranted = 0
            self._post({FRAME: GRANT, CREDIT: str(grant)})

    # -- sending ----------------------------------------------------------

    def _post(self, headers: dict[str, str]) -> None:
        """Send a control frame without waiting; order against message frames does not matter."""
        if self.peer is None:
            return
        self.last_sent = time.monotonic()
        _spawn(self._publish_quietly(self.peer, b"", headers))

    async def _publish_quietly(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        try:
            await self.nc.publish(subject, payload, headers=headers)
        except Exception as exc:
            # The peer's liveness check or deadline ends the call; nothing to do here.
            logger.debug("could not send a stream frame to %s: %s", subject, exc)

    async def _wait_credit(self) -> None:
        while self.credit <= 0 or self.peer is None:
            if self.error is not None:
                raise self.error
            self._check_writable()
            self.changed.clear()
            await self.changed.wait()
        if self.error is not None:
            raise self.error
        self._check_writable()

    def _check_writable(self) -> None:
        pass

    async def _send_message(self, payload: bytes) -> None:
        wire.check_payload_size(len(payload), self.nc.max_payload, "message")
        await self._wait_credit()
        assert self.peer is not None
        self.credit -= 1
        self.sent += 1
        self.last_sent = time.monotonic()
        await self.nc.publish(self.peer, payload, headers={FRAME: MSG, SEQ: str(self.sent)})

    # -- liveness ---------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self.heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        # Checking twice per interval keeps any silence we cause under 1.5
        # intervals, well inside the peer's limit of MISSED_HEARTBEATS.
        while self.error is None:
            await asyncio.sleep(self.heartbeat / 2)
            now = time.monotonic()
            if self.peer is not None and now - self.last_sent >= self.heartbeat:
                self._post({FRAME: HB, HEARTBEAT: str(max(1, round(self.heartbeat * 1000)))})
            if (
                self.last_heard
                and self.peer_heartbeat is not None
                and now - self.last_heard > MISSED_HEARTBEATS * self.peer_heartbeat
            ):
                self._fail(
                    RpcError(
                        StatusCode.UNAVAILABLE,
                        f"the peer sent nothing for {now - self.last_heard:.1f}s",
                    )
                )
                return

    def _stop_timers(self) -> None:
        task = self.heartbeat_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.heartbeat_task = None

    async def _unsubscribe(self) -> None:
        sub, self.subscription = self.subscription, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                logger.debug("could not unsubscribe %s: %s", self.inbox, exc)


# ---------------------------------------------------------------------------
# Server side
# ---------------------------------------------------------------------------


class StreamContext(Context):
    """The context of a streaming call: a Context that can also send initial metadata."""

    __slots__ = ("_stream",)

    def __init__(
        self,
        method: MethodSpec[Any, Any],
        subject: str,
        headers: Mapping[str, str] | None,
        deadline: float | None,
        stream: _ServerStream,
    ) -> None:
        super().__init__(method, subject, headers, deadline)
        self._stream = stream

    async def send_initial_metadata(self, metadata: wire.MetadataLike) -> None:
        """Send ``metadata`` to the caller now, ahead of any response.

        Call it before the first response and before reading the first request:
        the accept frame that carries it is sent at the first of those.
        """
        stream = self._stream
        if stream.accepted:
            raise RuntimeError("initial metadata has already been sent")
        stream.initial_metadata = wire.metadata_headers(metadata)
        await stream.accept()


class _ServerStream(_Channel):
    def __init__(
        self,
        nc: NATS,
        client_inbox: str,
        window: int,
        heartbeat: float,
        task: asyncio.Task[Any] | None,
    ) -> None:
        super().__init__(nc, window, heartbeat)
        self.peer = client_inbox
        self.accepted = False
        self.initial_metadata: dict[str, str] | None = None
        self.task = task
        self.running = False
        """True while the handler runs, the only time a failure may cancel the task."""
        self.quiet = False
        """The caller cancelled or vanished, so the call ends without an end frame."""

    async def open(self, headers: Mapping[str, str]) -> None:
        self.json = codec.is_json(headers.get(wire.CONTENT_TYPE))
        self.credit = _positive_int(headers.get(WINDOW), 1)
        self.peer_heartbeat = _positive_int(headers.get(HEARTBEAT), 0) / 1000.0 or None
        self.inbox = self.nc.new_inbox()
        self.subscription = await self.nc.subscribe(self.inbox, cb=self._on_msg)
        self._start_heartbeat()

    async def accept(self) -> None:
        if self.accepted:
            return
        self.accepted = True
        headers = dict(self.initial_metadata) if self.initial_metadata else {}
        headers[FRAME] = ACCEPT
        headers[WINDOW] = str(self.window)
        headers[HEARTBEAT] = str(max(1, round(self.heartbeat * 1000)))
        if self.json:
            headers[wire.CONTENT_TYPE] = codec.JSON
        assert self.peer is not None
        self.last_sent = time.monotonic()
        # The client can only speak once it has our inbox, so its silence counts from here.
        self.last_heard = self.last_sent
        await self.nc.publish(self.peer, b"", reply=self.inbox, headers=headers)

    async def _on_msg(self, msg: Msg) -> None:
        # Runs in the subscription's task: it must never wait.
        self.last_heard = time.monotonic()
        frame = (msg.headers or {}).get(FRAME, "")
        if self._on_data(frame, msg):
            return
        if frame == CANCEL:
            # The caller has gone away; it needs no end frame.
            self.quiet = True
            self._fail(RpcError(StatusCode.CANCELLED, "the caller cancelled the call"))

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
        await self.accept()
        await self._send_message(payload)

    async def finish(self, error: RpcError | None, trailers: Mapping[str, str] | None) -> None:
        self._stop_timers()
        if not self.quiet:
            headers = wire.error_headers(error, trailers) if error else dict(trailers or ())
            headers[FRAME] = END
            headers[SEQ] = str(self.sent)
            if self.json and not self.accepted:
                headers[wire.CONTENT_TYPE] = codec.JSON
            assert self.peer is not None
            await self._publish_quietly(self.peer, b"", headers)
        await self._unsubscribe()


async def serve_stream(
    nc: NATS,
    method: MethodSpec[Any, Any],
    handler: Callable[..., Any],
    msg: Msg,
    deadline: float | None,
    stats: EndpointStats,
    window: int,
    heartbeat: float,
    max_message_bytes: int | None = None,
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
        try:
            await nc.publish(msg.reply, b"", headers=wire.error_headers(refusal, None))
        except Exception:
            logger.exception("could not send a reply to %s", msg.reply)
        return
    task = asyncio.current_task()
    stream = _ServerStream(nc, msg.reply, window, heartbeat, task)
    stream.max_message_bytes = max_message_bytes
    context = StreamContext(method, msg.subject, headers, deadline, stream)
    timer: asyncio.TimerHandle | None = None
    error: RpcError | None = None
    try:
        stream.running = True
        await stream.open(headers)
        if deadline is not None:
            timer = asyncio.get_running_loop().call_at(
                deadline,
                stream._fail,
                RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded on the server"),
            )
        if method.kind is MethodKind.SERVER_STREAMING:
            request = codec.decode(method.request_type, msg.data, stream.json)
            await _relay(method, handler(request, context), stream)
        elif method.kind is MethodKind.CLIENT_STREAMING:
            response = await handler(stream.requests(method.request_type), context)
            await stream.send(method, response)
        else:
            await _relay(method, handler(stream.requests(method.request_type), context), stream)
        if stream.error is not None:
            error = stream.error
    except RpcError as exc:
        error = stream.error or exc
    except asyncio.CancelledError:
        if stream.error is None:
            # Forced stop after the grace period: tell the caller, then let the
            # cancellation go on.
            stream.running = False
            error = RpcError(StatusCode.CANCELLED, "server is shutting down")
            stats.record(str(error), time.perf_counter_ns() - started)
            await stream.finish(error, context._response_headers)
            raise
        if task is not None and hasattr(task, "uncancel"):
            # This task goes on serving queued requests; clear our own cancel.
            task.uncancel()
        error = stream.error
    except Exception:
        if stream.error is not None:
            error = stream.error
        else:
            logger.exception("unhandled error in %s", method.path)
            error = RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
    finally:
        stream.running = False
        if timer is not None:
            timer.cancel()
    stats.record(None if error is None else str(error), time.perf_counter_ns() - started)
    await stream.finish(error, context._response_headers)


async def response_iterable(method: MethodSpec[Any, Any], responses: Any) -> AsyncIterable[Any]:
    """What a streaming handler returned, as the async iterable of its responses."""
    if isinstance(responses, Awaitable):
        # An ``async def`` that returns an iterator rather than yielding.
        responses = await responses
    if not isinstance(responses, AsyncIterable):
        logger.error("%s must be an async generator, not %s", method.path, type(responses))
        raise RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
    return responses


async def _relay(method: MethodSpec[Any, Any], responses: Any, stream: _ServerStream) -> None:
    responses = await response_iterable(method, responses)
    try:
        async for response in responses:
            await stream.send(method, response)
    finally:
        aclose = getattr(responses, "aclose", None)
        if aclose is not None:
            await aclose()


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------


class _ClientStream(_Channel):
    def __init__(
        self,
        client: Client,
        method: MethodSpec[Any, Any],
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> None:
        super().__init__(client._nc, client._stream_window, client._heartbeat)
        self.method = method
        self.subject = client._subject_prefix + method.subject
        self.timeout = timeout or method.timeout or client._timeout
        self.metadata_headers = wire.metadata_headers(metadata) if metadata else {}
        self.accepted = asyncio.Event()
        self.initial: Mapping[str, str] = EMPTY_METADATA
        self.trailers: Mapping[str, str] | None = None
        self.finished = False
        """Nothing more will arrive: the server ended the call or it failed here."""
        self.cancel_pending = False
        self.deadline_timer: asyncio.TimerHandle | None = None
        self.on_close: Callable[[], None] | None = None
        """Called once when the call ends; client interceptors wait for it."""

    async def start(self, payload: bytes) -> None:
        nc = self.nc
        wire.check_payload_size(len(payload), nc.max_payload, "request")
        headers = dict(self.metadata_headers)
        headers[FRAME] = OPEN
        headers[WINDOW] = str(self.window)
        headers[HEARTBEAT] = str(max(1, round(self.heartbeat * 1000)))
        headers[wire.TIMEOUT] = str(int(self.timeout * 1000))
        loop = asyncio.get_running_loop()
        self.inbox = nc.new_inbox()
        try:
            self.subscription = await nc.subscribe(self.inbox, cb=self._on_msg)
            # SUB and PUB travel in order on one connection, so the answer
            # cannot outrun the subscription.
            await nc.publish(self.subject, payload, reply=self.inbox, headers=headers)
        except wire.CONNECTION_ERRORS as exc:
            error = wire.connection_unusable(exc)
            self._fail(error)
            raise error from None
        if self.finished:
            # Cancelled while the open frame went out.
            return
        self.deadline_timer = loop.call_later(self.timeout, self._expire)
        self._start_heartbeat()

    def _expire(self) -> None:
        self._fail(
            RpcError(
                StatusCode.DEADLINE_EXCEEDED,
                f"{self.subject} did not finish within {self.timeout:g}s",
            )
        )

    async def _on_msg(self, msg: Msg) -> None:
        # Runs in the subscription's task: it must never wait.
        headers = msg.headers or {}
        frame = headers.get(FRAME)
        if self.finished:
            if self.cancel_pending and frame in (ACCEPT, END):
                if frame == ACCEPT and msg.reply:
                    self.peer = msg.reply
                    self._post({FRAME: CANCEL})
                if self.deadline_timer is not None:
                    self.deadline_timer.cancel()
                self._stop_listening()
            return
        self.last_heard = time.monotonic()
        if HEARTBEAT in headers:
            self.peer_heartbeat = _positive_int(headers[HEARTBEAT], 0) / 1000.0 or None
        if frame is None:
            if wire.is_no_responders(msg.data, headers):
                self._fail(
                    RpcError(StatusCode.UNAVAILABLE, f"no service is serving {self.subject}")
                )
            elif wire.SERVICE_ERROR_CODE in headers or wire.SERVICE_ERROR in headers:
                # A plain ADR-32 error reply, as a server sends when it sheds load.
                self.peer_ended = True
                self._on_peer_end(headers)
            return
        if frame == ACCEPT:
            if self.peer is not None:
                return
            self.peer = msg.reply or None
            self.credit = _positive_int(headers.get(WINDOW), 1)
            self.initial = MappingProxyType(wire.user_metadata(headers))
            self.accepted.set()
            self.changed.set()
            return
        self._on_data(frame, msg)

    def _on_peer_end(self, headers: Mapping[str, str]) -> None:
        trailers = wire.user_metadata(headers)
        self.trailers = MappingProxyType(trailers)
        if wire.SERVICE_ERROR_CODE in headers or wire.SERVICE_ERROR in headers:
            self.end_error = RpcError(
                status_from_wire(headers.get(wire.SERVICE_ERROR_CODE)),
                headers.get(wire.SERVICE_ERROR, ""),
                trailers,
            )
        self.accepted.set()
        self.changed.set()
        self._close()

    def _fail(self, error: RpcError) -> None:
        if self.finished:
            return
        self.error = error
        self.trailers = error.metadata
        if self.peer is not None:
            self._post({FRAME: CANCEL})
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
        if self.on_close is not None:
            self.on_close()
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        if self.cancel_pending:
            # Listen on for the accept frame, but no longer than the call could last.
            loop = asyncio.get_running_loop()
            self.deadline_timer = loop.call_later(self.timeout, self._stop_listening)
        else:
            self._stop_listening()

    def _stop_listening(self) -> None:
        self.cancel_pending = False
        _spawn(self._unsubscribe())

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
        await self.nc.publish(self.peer, b"", headers={FRAME: END, SEQ: str(self.sent)})

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
        self._fail(RpcError(StatusCode.CANCELLED, "the call was cancelled"))
        return True


class _StreamCall(Generic[ResponseT]):
    """What the three streaming call objects share: start, reading, metadata, cancel."""

    def __init__(
        self,
        client: Client,
        method: MethodSpec[Any, ResponseT],
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> None:
        self._client = client
        self._stream = _ClientStream(client, method, timeout, metadata)
        self._response_type: type[ResponseT] = method.response_type
        self._start_task: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._chain_task: asyncio.Task[None] | None = None

    def _open_payload(self) -> bytes:
        return b""

    async def _started(self) -> _ClientStream:
        if self._start_task is None:
            self._start_task = asyncio.get_running_loop().create_task(self._start())
        # Shielded: one reader giving up must not abort the start for everyone.
        await asyncio.shield(self._start_task)
        return self._stream

    async def _start(self) -> None:
        if self._stream.finished:
            return
        interceptors = self._client._stream_interceptors
        if interceptors:
            await self._start_intercepted(interceptors)
        else:
            await self._stream.start(self._open_payload())

    async def _start_intercepted(self, interceptors: tuple[ClientInterceptor, ...]) -> None:
        """Open the call from inside the interceptors; they run until the call ends."""
        # Imported here: natsrpc.interceptors builds on this module.
        from natsrpc.interceptors import CallDetails, stream_invoker

        stream = self._stream
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ended = asyncio.Event()
        stream.on_close = ended.set

        async def open_and_wait(details: CallDetails) -> None:
            if opened.done():
                raise RuntimeError("call_next may open a streaming call only once")
            if stream.error is not None:
                # Cancelled while the interceptors ran: send nothing.
                raise stream.error
            stream.method = details.method
            stream.subject = self._client._subject_prefix + details.method.subject
            stream.timeout = details.timeout
            stream.metadata_headers = wire.metadata_headers(details.metadata)
            # A failure to open (a bad metadata key, a closed connection) ends the
            # chain before ``opened``; _start_intercepted then fails the call.
            await stream.start(self._open_payload())
            opened.set_result(None)
            await ended.wait()
            failure = stream.error or stream.end_error
            if failure is not None:
                raise failure

        async def run_chain() -> None:
            details = CallDetails(stream.method, dict(stream.metadata_headers), stream.timeout)
            await stream_invoker(interceptors, open_and_wait)(details)

        # A task of its own, because the interceptors wait for the end of the call
        # while the caller goes on reading and writing.
        chain = asyncio.get_running_loop().create_task(run_chain())
        self._chain_task = chain
        chain.add_done_callback(_chain_done)
        await asyncio.wait((opened, chain), return_when=asyncio.FIRST_COMPLETED)
        if opened.done():
            return
        # The interceptors ended before opening the call: nothing went out.
        error = None if chain.cancelled() else chain.exception()
        if isinstance(error, RpcError):
            self._end_unopened(error)
            return
        self._end_unopened(
            RpcError(StatusCode.CANCELLED, "a client interceptor did not open the call")
        )
        if error is not None:
            raise error

    def _end_unopened(self, error: RpcError) -> None:
        stream = self._stream
        if stream.finished:
            # Already failed while opening, with the better reason.
            return
        stream.error = error
        stream.trailers = error.metadata
        stream.finished = True
        stream.accepted.set()
        stream.changed.set()

    async def read(self) -> ResponseT | None:
        """The next response, or None when the server has ended the call successfully."""
        stream = await self._started()
        return await stream.read(self._response_type)

    def __aiter__(self) -> AsyncIterator[ResponseT]:
        return self._responses()

    async def _responses(self) -> AsyncIterator[ResponseT]:
        try:
            while True:
                response = await self.read()
                if response is None:
                    return
                yield response
        finally:
            # A caller that stops iterating early has abandoned the call.
            self.cancel()

    async def initial_metadata(self) -> Mapping[str, str]:
        """The server's initial metadata; waits until the server has accepted the call."""
        stream = await self._started()
        await stream.accepted.wait()
        return stream.initial

    def trailing_metadata(self) -> Mapping[str, str]:
        """Metadata the server ended the call with (on errors: ``RpcError.metadata``)."""
        trailers = self._stream.trailers
        if trailers is None:
            raise RuntimeError("the call has not finished; read it to the end first")
        return trailers

    def cancel(self) -> bool:
        """End the call now; the server's handler is cancelled. False if already finished."""
        if self._pump_task is not None:
            self._pump_task.cancel()
        if self._start_task is None:
            # Never started: nothing went out, so nothing needs cancelling remotely.
            if self._stream.finished:
                return False
            self._stream.error = RpcError(StatusCode.CANCELLED, "the call was cancelled")
            self._stream.trailers = EMPTY_METADATA
            self._stream.finished = True
            return True
        return self._stream.cancel()

    def done(self) -> bool:
        return self._stream.finished

    async def _pump(self, requests: Iterable[Any] | AsyncIterable[Any]) -> None:
        stream = self._stream
        try:
            if isinstance(requests, AsyncIterable):
                async for request in requests:
                    await self._write(request)
            else:
                for request in requests:
                    await self._write(request)
            await stream.done_writing()
        except RpcError:
            # The call has ended; its outcome reaches the reader.
            pass
        except Exception as exc:
            logger.debug("request iterator of %s failed", stream.method.path, exc_info=True)
            stream._fail(RpcError(StatusCode.CANCELLED, f"the request iterator raised {exc!r}"))

    async def _write(self, request: Message) -> None:
        self._stream.method.check_request(request)
        stream = self._stream
        await stream.write(codec.encode(request, stream.json))

    def _start_pump(self, requests: Iterable[Any] | AsyncIterable[Any] | None) -> None:
        if requests is not None:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump(requests))


def _chain_done(chain: asyncio.Task[None]) -> None:
    # The call's outcome reaches the caller through the call object; only an
    # interceptor's own bug is worth a log line.
    if chain.cancelled():
        return
    error = chain.exception()
    if error is not None and not isinstance(error, RpcError):
        logger.error("a client interceptor failed", exc_info=error)


class ServerStreamCall(_StreamCall[ResponseT]):
    """A server-streaming call: ``async for response in call``.

    The request goes out when iteration (or ``read()``/``initial_metadata()``)
    starts. Leaving the loop early cancels the call.
    """

    def __init__(
        self,
        client: Client,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> None:
        method.check_request(request)
        super().__init__(client, method, timeout, metadata)
        self._request = request

    def _open_payload(self) -> bytes:
        return codec.encode(self._request, self._stream.json)


class BidiStreamCall(_StreamCall[ResponseT], Generic[RequestT, ResponseT]):
    """A bidirectional call: ``write()``/``done_writing()`` and ``read()``/``async for``.

    With a ``requests`` iterable the call writes it in the background and then
    half-closes; without one, write and call ``done_writing()`` yourself.
    """

    def __init__(
        self,
        client: Client,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT] | None,
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> None:
        super().__init__(client, method, timeout, metadata)
        self._requests = requests

    async def _start(self) -> None:
        await super()._start()
        if not self._stream.finished:
            self._start_pump(self._requests)

    async def write(self, request: RequestT) -> None:
        """Send one request; waits while the server has no room for it."""
        if self._requests is not None:
            raise RuntimeError("this call writes the requests it was given; do not write()")
        self._stream.method.check_request(request)
        await self._started()
        await self._write(request)

    async def done_writing(self) -> None:
        """Tell the server no more requests will come (half-close)."""
        stream = await self._started()
        await stream.done_writing()
