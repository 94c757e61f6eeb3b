"""Serving generated service classes on NATS."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, ClassVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc import _nats, codec, streams, wire
from natsrpc.context import Context
from natsrpc.interceptors import ServerInterceptor, intercept_handler
from natsrpc.service_api import DEFAULT_QUEUE_GROUP, Endpoint, MicroService
from natsrpc.spec import MethodKind, MethodSpec, ServiceSpec
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode

logger = logging.getLogger("natsrpc.server")

if sys.version_info >= (3, 12):

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        # Runs the handler at once, up to its first wait: a handler that never
        # waits costs no trip through the event loop, and may be done on return.
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        return loop.create_task(coro)


Handler = Callable[[Any, Context], Awaitable[Any]]


class Service:
    """Base of every generated server class; subclass it and override the methods."""

    __natsrpc_service__: ClassVar[ServiceSpec]


class _MethodEndpoint:
    """One method being served: its handler, limits, waiting requests and counters."""

    __slots__ = (
        "backlog",
        "endpoint",
        "handler",
        "max_concurrency",
        "max_pending",
        "method",
        "serve",
        "subscription",
    )

    def __init__(
        self,
        method: MethodSpec[Any, Any],
        handler: Handler,
        endpoint: Endpoint,
        max_concurrency: int,
        max_pending: int,
        serve: Callable[[_MethodEndpoint, Msg], Awaitable[None]],
    ) -> None:
        self.serve = serve
        self.method = method
        self.handler = handler
        self.endpoint = endpoint
        self.max_concurrency = max_concurrency
        self.max_pending = max_pending
        self.backlog: deque[Msg] = deque()
        self.subscription: Subscription | None = None


class Server:
    """Serves one or more services on a connected ``nats.aio.client.Client``.

    Each endpoint runs up to ``max_concurrency`` handlers at once and queues up to
    ``max_pending`` more; a request beyond both fails at once with
    RESOURCE_EXHAUSTED, so memory stays bounded under any load.

    ``interceptors`` wrap every handler of every service, the first outermost
    (see ``natsrpc.ServerInterceptor``).

    ``max_message_bytes`` refuses larger requests (and stream messages) with
    RESOURCE_EXHAUSTED before they are parsed or queued; without it only the NATS
    server's ``max_payload`` limits them.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        max_concurrency: int = 256,
        max_pending: int = 1024,
        grace_period: float = 30.0,
        stream_window: int = streams.DEFAULT_WINDOW,
        heartbeat: float = streams.DEFAULT_HEARTBEAT,
        interceptors: Sequence[ServerInterceptor] = (),
        max_message_bytes: int | None = None,
    ) -> None:
        if max_message_bytes is not None and max_message_bytes < 0:
            raise ValueError("max_message_bytes must not be negative")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if max_pending < 0:
            raise ValueError("max_pending must not be negative")
        if stream_window < 1:
            raise ValueError("stream_window must be at least 1")
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        self._stream_window = stream_window
        self._heartbeat = heartbeat
        self._max_message_bytes = max_message_bytes
        self._interceptors = tuple(interceptors)
        self._nc = nc
        self._max_concurrency = max_concurrency
        self._max_pending = max_pending
        self.grace_period = grace_period
        self._endpoints: list[_MethodEndpoint] = []
        self._services: list[MicroService] = []
        self._discovery: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadlines = _DeadlineWatch()
        self._started = False

    @property
    def services(self) -> tuple[MicroService, ...]:
        """The ADR-32 identities of the services added so far (ids, stats)."""
        return tuple(self._services)

    def add_service(
        self,
        impl: Service,
        *,
        subject_prefix: str | None = None,
        queue_group: str | None = None,
        max_concurrency: int | None = None,
        max_pending: int | None = None,
    ) -> MicroService:
        """Serve ``impl``, an instance of a generated service class, from the next start()."""
        if self._started:
            raise RuntimeError("add services before start()")
        spec = getattr(type(impl), "__natsrpc_service__", None)
        if not isinstance(spec, ServiceSpec):
            raise TypeError(
                f"{type(impl).__name__} is not a generated natsrpc service class; "
                "subclass the class protoc-gen-natsrpc wrote for your service"
            )
        prefix = subject_prefix or ""
        group = queue_group or spec.queue_group or DEFAULT_QUEUE_GROUP
        endpoints = []
        for method in spec.methods:
            endpoint = Endpoint(
                name=method.name,
                subject=prefix + method.subject,
                queue_group=group,
                metadata={
                    "rpc.method": method.path,
                    "rpc.request_type": method.request_type.DESCRIPTOR.full_name,
                    "rpc.response_type": method.response_type.DESCRIPTOR.full_name,
                    "rpc.kind": method.kind.value,
                    **method.metadata,
                },
            )
            endpoints.append(endpoint)
            handler = getattr(impl, method.attribute)
            if self._interceptors:
                # Wrapped once here, so serving a call costs nothing extra without them.
                handler = intercept_handler(self._interceptors, method, handler)
            self._endpoints.append(
                _MethodEndpoint(
                    method,
                    handler,
                    endpoint,
                    max_concurrency or self._max_concurrency,
                    self._max_pending if max_pending is None else max_pending,
                    self._serve_unary if method.kind is MethodKind.UNARY else self._serve_stream,
                )
            )
        service = MicroService(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            metadata=spec.metadata,
            endpoints=endpoints,
        )
        self._services.append(service)
        return service

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("server already started")
        if not self._endpoints:
            raise RuntimeError("no services added")
        self._started = True
        for ep in self._endpoints:
            ep.subscription = await self._nc.subscribe(
                ep.endpoint.subject,
                queue=ep.endpoint.queue_group,
                cb=self._dispatcher(ep),
            )
        for service in self._services:
            self._discovery.extend(await service.subscribe_discovery(self._nc))
        # One round trip so that every subscription is live before start() returns.
        await _nats.flush(self._nc)

    async def stop(self, grace_period: float | None = None) -> None:
        """Stop taking requests, finish the ones already taken, then drain.

        Handlers still running after ``grace_period`` seconds are cancelled and
        their callers get CANCELLED.
        """
        if not self._started:
            return
        self._started = False
        # Draining unsubscribes first, so queue-group peers take new requests while
        # everything this instance already received still runs to completion.
        await _nats.drain(self._nc, [ep.subscription for ep in self._endpoints if ep.subscription])
        grace = self.grace_period if grace_period is None else grace_period
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        # Requests still queued behind cancelled handlers never started: say so,
        # with a status that tells the caller a retry elsewhere is safe.
        for ep in self._endpoints:
            while ep.backlog:
                error = RpcError(StatusCode.UNAVAILABLE, "server is shutting down")
                ep.endpoint.stats.record(str(error))
                await self._reply_error(ep.backlog.popleft(), error, None)
            ep.endpoint.stats.pending = 0
        for sub in self._discovery:
            await sub.unsubscribe()
        self._discovery.clear()
        await self._deadlines.close()
        await _nats.flush(self._nc)

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _dispatcher(self, ep: _MethodEndpoint) -> Callable[[Msg], Awaitable[None]]:
        # nats-py awaits a subscription's callback before it delivers the next
        # message, so this callback never waits: it starts a task or queues.
        stats = ep.endpoint.stats
        loop = asyncio.get_running_loop()
        limit = self._max_message_bytes

        async def dispatch(msg: Msg) -> None:
            if limit is not None and len(msg.data) > limit:
                error = RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"request of {len(msg.data)} bytes exceeds this service's limit "
                    f"of {limit} bytes",
                )
                stats.record(str(error))
                await self._reply_error(msg, error, None)
            elif stats.in_flight < ep.max_concurrency:
                stats.in_flight += 1
                task = _start_task(loop, self._work(ep, msg))
                if not task.done():
                    self._tasks.add(task)
            elif len(ep.backlog) < ep.max_pending:
                ep.backlog.append(msg)
                stats.pending = len(ep.backlog)
            else:
                stats.shed += 1
                error = RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"{ep.method.path} is at its concurrency limit; retry later",
                )
                stats.record(str(error))
                await self._reply_error(msg, error, None)

        return dispatch

    async def _work(self, ep: _MethodEndpoint, msg: Msg) -> None:
        """Serve ``msg``, then whatever queued behind it, in this one task."""
        stats = ep.endpoint.stats
        try:
            while True:
                await ep.serve(ep, msg)
                if not ep.backlog:
                    return
                msg = ep.backlog.popleft()
                stats.pending = len(ep.backlog)
        finally:
            stats.in_flight -= 1
            # Cheaper than a done callback, which costs the loop one more round.
            self._tasks.discard(asyncio.current_task())

    async def _serve_unary(self, ep: _MethodEndpoint, msg: Msg) -> None:
        started = time.perf_counter_ns()
        headers = msg.headers
        deadline = _deadline(headers)
        context = Context(ep.method, msg.subject, headers, deadline)
        task = asyncio.current_task()
        assert task is not None
        error: RpcError | None = None
        payload = b""
        json = False
        try:
            json = codec.is_json(headers.get(wire.CONTENT_TYPE)) if headers else False
            request = codec.decode(ep.method.request_type, msg.data, json)
            if deadline is not None:
                self._deadlines.watch(task, deadline)
            response = await ep.handler(request, context)
            if deadline is not None:
                self._deadlines.forget(task)
            payload = codec.encode_response(ep.method, response, json)
            wire.check_payload_size(len(payload), self._nc.max_payload, "response")
        except RpcError as exc:
            error = exc
        except asyncio.CancelledError:
            if not self._deadlines.expired(task):
                # Forced stop after the grace period: tell the caller, then let the
                # cancellation go on.
                error = RpcError(StatusCode.CANCELLED, "server is shutting down")
                ep.endpoint.stats.record(str(error), time.perf_counter_ns() - started)
                await self._reply_error(msg, error, context._response_headers)
                raise
            if hasattr(task, "uncancel"):
                # This task goes on serving queued requests; clear our own cancel.
                task.uncancel()
            error = RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded on the server")
        except Exception:
            logger.exception("unhandled error in %s", ep.method.path)
            error = RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
        finally:
            if deadline is not None:
                self._deadlines.forget(task)

        ep.endpoint.stats.record(
            None if error is None else str(error), time.perf_counter_ns() - started
        )
        if error is not None:
            await self._reply_error(msg, error, context._response_headers)
        elif msg.reply:
            reply_headers = context._response_headers
            if json:
                reply_headers = dict(reply_headers or ())
                reply_headers[wire.CONTENT_TYPE] = codec.JSON
            await self._publish(msg.reply, payload, reply_headers)

    async def _serve_stream(self, ep: _MethodEndpoint, msg: Msg) -> None:
        # A stream holds its concurrency slot from open to end, like a unary call.
        await streams.serve_stream(
            self._nc,
            ep.method,
            ep.handler,
            msg,
            _deadline(msg.headers),
            ep.endpoint.stats,
            self._stream_window,
            self._heartbeat,
            self._max_message_bytes,
        )

    async def _reply_error(
        self, msg: Msg, error: RpcError, trailers: dict[str, str] | None
    ) -> None:
        if not msg.reply:
            return
        headers = wire.error_headers(error, trailers)
        await self._publish(msg.reply, b"", headers)

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str] | None) -> None:
        try:
            await self._nc.publish(subject, payload, headers=headers)
        except Exception:
            # The caller will time out; the service itself must go on serving.
            logger.exception("could not send a reply to %s", subject)


def _deadline(headers: dict[str, str] | None) -> float | None:
    if not headers:
        return None
    value = headers.get(wire.TIMEOUT)
    if value is None:
        return None
    try:
        milliseconds = int(value)
    except ValueError:
        return None
    return time.monotonic() + max(milliseconds, 0) / 1000.0


DEADLINE_RESOLUTION = 0.01
"""Seconds between deadline checks: a handler is cancelled at most this late."""


class _DeadlineWatch:
    """Cancels handlers whose caller's deadline has passed.

    One periodic check replaces a timer per request: a TimerHandle costs every
    call a heap push and pop, while most calls finish long before their
    deadline. The check runs only while some handler has a deadline.
    """

    def __init__(self) -> None:
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def watch(self, task: asyncio.Task[Any], deadline: float) -> None:
        self._deadlines[task] = deadline
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def forget(self, task: asyncio.Task[Any]) -> None:
        self._deadlines.pop(task, None)
        # A handler that swallowed our cancellation must not look expired later.
        self._expired.discard(task)

    async def close(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether the watch cancelled ``task``; answers True once per expiry."""
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    async def _sweep(self) -> None:
        try:
            while self._deadlines:
                await asyncio.sleep(DEADLINE_RESOLUTION)
                now = time.monotonic()
                late = [task for task, deadline in self._deadlines.items() if deadline <= now]
                for task in late:
                    del self._deadlines[task]
                    self._expired.add(task)
                    task.cancel()
        finally:
            self._sweeper = None
