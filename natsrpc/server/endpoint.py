"""Admission: how each method's requests are taken in, queued, run or shed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.server.call_host import CallHost
from natsrpc.server.outcome import SHUTTING_DOWN
from natsrpc.server.runner import Runner
from natsrpc.server.stream import serve_stream
from natsrpc.server.unary import serve_unary
from natsrpc.service_api.responder import Endpoint
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.tasks import spawn
from natsrpc.transport.wire import reading_more


class MethodEndpoint(Runner[Msg]):
    """One method being served: its handler, limits, waiting requests and counters.

    Requests come in through ``Runner.admit`` (``server.runner``), which bounds
    them by ``max_concurrency`` and ``max_pending`` and keeps the endpoint's
    statistics of what is in hand (``in_flight``) and waiting (``pending``).
    """

    __slots__ = (
        "endpoint",
        "handler",
        "host",
        "method",
        "serve",
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
        super().__init__(max_concurrency, max_pending, endpoint.stats)
        self.method = method
        self.handler = handler
        self.endpoint = endpoint
        self.serve = serve_unary if method.kind is MethodKind.UNARY else serve_stream
        self.host: CallHost | None = None
        self.subscription: Subscription | None = None

    def dispatcher(self, host: CallHost, tasks: set[asyncio.Task[None]]) -> Callable[[Msg], None]:
        """The subscriber: it never waits; it admits, queues or sheds each request."""
        self.bind(tasks)
        self.host = host
        stats = self.endpoint.stats
        limit = host.max_message_bytes
        admit = self.admit

        def dispatch(msg: Msg) -> None:
            if limit is not None and len(msg.data) > limit:
                error = RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"request of {len(msg.data)} bytes exceeds this service's limit "
                    f"of {limit} bytes",
                )
                stats.record(str(error))
                spawn(host.reply_error(msg, error, None))
            elif not admit(msg):
                stats.shed += 1
                error = RpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"{self.method.path} is at its concurrency limit; retry later",
                )
                stats.record(str(error))
                spawn(host.reply_error(msg, error, None))

        return dispatch

    def _serve(self, item: Msg) -> Awaitable[None] | None:
        host = self.host
        assert host is not None
        # Other requests ready or in flight: replies follow soon, and can leave
        # together instead of a socket write each.
        host.more_replies = bool(self.ready) or self.in_hand > 1
        return self.serve(host, self.method, self.handler, self.endpoint.stats, item)

    def _lone(self) -> bool:
        # Nor more requests in this socket read.
        host = self.host
        return host is not None and not reading_more(host.nc)

    def holds(self, reply: str) -> bool:
        """Whether a request with reply subject ``reply`` waits here to be served."""
        return any(msg.reply == reply for queue in (self.ready, self.backlog) for msg in queue)

    async def refuse_backlog(self, host: CallHost) -> None:
        """Answer requests that never started with UNAVAILABLE: a retry elsewhere is safe."""
        stats = self.endpoint.stats
        refused = self.drop_waiting()
        for msg in refused:
            error = RpcError(StatusCode.UNAVAILABLE, SHUTTING_DOWN)
            stats.record(str(error))
            await host.reply_error(msg, error, None)
