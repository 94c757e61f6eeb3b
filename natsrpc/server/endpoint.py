"""Admission: how each method's requests are taken in, queued, run or shed."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.protocol.channel import spawn
from natsrpc.server.serving import Serving
from natsrpc.server.stream import serve_stream
from natsrpc.server.unary import serve_unary
from natsrpc.service_api.responder import Endpoint
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import RpcError, StatusCode

if sys.version_info >= (3, 12):

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], eager: bool
    ) -> asyncio.Task[None]:
        # Eager: runs the handler at once, up to its first wait, so a lone request
        # whose handler never waits costs no trip through the event loop.
        return asyncio.Task(coro, loop=loop, eager_start=eager)

else:

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], eager: bool
    ) -> asyncio.Task[None]:
        return loop.create_task(coro)


EAGER_AFTER = 200e-6
"""Seconds without a new runner after which the next one starts eagerly (Python 3.12+)."""


class MethodEndpoint:
    """One method being served: its handler, limits, waiting requests and counters.

    Admitted requests wait in ``ready`` for a runner: a task that serves them
    one after another. Before serving one it makes sure another runner is on
    its way if more are ready, so a handler that waits never holds up the
    rest, while handlers that finish without waiting (the common case under
    load: a burst of requests from one socket read) share one task instead of
    paying for a task each.
    """

    __slots__ = (
        "backlog",
        "endpoint",
        "handler",
        "last_start",
        "max_concurrency",
        "max_pending",
        "method",
        "ready",
        "serve",
        "starting",
        "subscription",
    )

    def __init__(
        self,
        method: MethodSpec[Any, Any],
        handler: Callable[..., Any],
        endpoint: Endpoint,
        max_concurrency: int,
        max_pending: int,
    ) -> None:
        self.method = method
        self.handler = handler
        self.endpoint = endpoint
        self.max_concurrency = max_concurrency
        self.max_pending = max_pending
        self.serve = serve_unary if method.kind is MethodKind.UNARY else serve_stream
        self.ready: deque[Msg] = deque()
        """Admitted (counted in flight), not yet taken by a runner."""
        self.backlog: deque[Msg] = deque()
        """Beyond ``max_concurrency``: waiting to be admitted."""
        self.starting = False
        """A runner has been created and has not started yet."""
        self.last_start = 0.0
        """Monotonic time a runner was last started."""
        self.subscription: Subscription | None = None

    def dispatcher(self, serving: Serving, tasks: set[asyncio.Task[None]]) -> Callable[[Msg], None]:
        """The subscriber: it never waits; it admits, queues or sheds each request."""
        stats = self.endpoint.stats
        loop = asyncio.get_running_loop()
        limit = serving.max_message_bytes
        backlog = self.backlog
        ready = self.ready

        def dispatch(msg: Msg) -> None:
            if limit is not None and len(msg.data) > limit:
                error = RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"request of {len(msg.data)} bytes exceeds this service's limit "
                    f"of {limit} bytes",
                )
                stats.record(str(error))
                spawn(serving.reply_error(msg, error, None))
            elif stats.in_flight < self.max_concurrency:
                stats.in_flight += 1
                ready.append(msg)
                if not self.starting:
                    self._start_runner(loop, serving, tasks)
            elif len(backlog) < self.max_pending:
                backlog.append(msg)
                stats.pending = len(backlog)
            else:
                stats.shed += 1
                error = RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"{self.method.path} is at its concurrency limit; retry later",
                )
                stats.record(str(error))
                spawn(serving.reply_error(msg, error, None))

        return dispatch

    def _start_runner(
        self, loop: asyncio.AbstractEventLoop, serving: Serving, tasks: set[asyncio.Task[None]]
    ) -> None:
        self.starting = True
        # Only a request after a quiet spell starts its runner eagerly: within a
        # burst an eager runner would serve one request and end (a task each),
        # while a scheduled one serves the rest of the burst.
        now = time.monotonic()
        eager = now - self.last_start > EAGER_AFTER and self.endpoint.stats.in_flight == 1
        self.last_start = now
        task = _start_task(loop, self._run(loop, serving, tasks), eager)
        if not task.done():
            tasks.add(task)

    async def _run(
        self, loop: asyncio.AbstractEventLoop, serving: Serving, tasks: set[asyncio.Task[None]]
    ) -> None:
        """Serve ready requests until there are none, admitting from the backlog as calls end."""
        self.starting = False
        stats = self.endpoint.stats
        ready, backlog = self.ready, self.backlog
        try:
            while ready:
                msg = ready.popleft()
                if ready and not self.starting:
                    # Should this handler wait, the next runner takes the rest.
                    self._start_runner(loop, serving, tasks)
                # Other requests ready or in flight: replies follow soon, and can
                # leave together instead of a socket write each.
                serving.more_replies = bool(ready) or stats.in_flight > 1
                try:
                    await self.serve(serving, self.method, self.handler, stats, msg)
                finally:
                    stats.in_flight -= 1
                if backlog and stats.in_flight < self.max_concurrency:
                    stats.in_flight += 1
                    ready.append(backlog.popleft())
                    stats.pending = len(backlog)
        finally:
            # Cheaper than a done callback, which costs the loop one more round.
            tasks.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]

    def holds(self, reply: str) -> bool:
        """Whether a request with reply subject ``reply`` waits here to be served."""
        return any(msg.reply == reply for queue in (self.ready, self.backlog) for msg in queue)

    async def refuse_backlog(self, serving: Serving) -> None:
        """Answer requests that never started with UNAVAILABLE: a retry elsewhere is safe."""
        stats = self.endpoint.stats
        while self.ready or self.backlog:
            if self.ready:
                msg = self.ready.popleft()
                stats.in_flight -= 1
            else:
                msg = self.backlog.popleft()
            error = RpcError(StatusCode.UNAVAILABLE, "server is shutting down")
            stats.record(str(error))
            await serving.reply_error(msg, error, None)
        stats.pending = 0
