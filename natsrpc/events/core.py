"""Consuming a core NATS event set: plain subscriptions, at most once.

Without a consumer group every instance gets every event (fan-out); with one,
the instances of the group share a queue group and each event reaches one of
them. Nothing is stored: an event published while no instance listens, or lost
with a failing handler or a crashing process, is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc import codec, telemetry
from natsrpc.events.context import EventContext
from natsrpc.events.routing import Consumed, Router
from natsrpc.protocol.headers import CONTENT_TYPE
from natsrpc.server.runner import Runner
from natsrpc.service_api.responder import MicroService
from natsrpc.transport.connection import drain, flush
from natsrpc.transport.tasks import finish_within
from natsrpc.transport.wire import Subscriber, prepare, subscribe

logger = logging.getLogger("natsrpc.events")

DEFAULT_MAX_PENDING = 16384
"""Events that may wait for a free handler slot, beyond which events are dropped.

One socket read (256 KiB) can hand over thousands of small events at once; a
bound below that would drop events from every burst even when the handlers
keep up on average."""
MAX_PENDING_BYTES = 64 * 1024 * 1024
"""Payload bytes that may wait, whatever ``max_pending`` allows: large events are dropped sooner."""
DROPPED = "dropped: more events arrived than the handlers can take"
HANDLED, FAILED, UNDECODABLE = "handled", "failed", "undecodable"
"""How handling a core NATS event ended, as ``telemetry.handled`` reports it."""
_WARN_EVERY = 10.0
"""Seconds between warnings about dropped events."""

Taken = tuple[Consumed, Msg]


class CoreSubscriber(Runner[Taken]):
    """The server component that serves one ``EventHandlers`` instance over core NATS.

    Each event is taken inside nats-py's reader (``transport.wire.subscribe``)
    and handled by runner tasks (``server.runner``), at most ``max_concurrency``
    at a time; up to ``max_pending`` more (``MAX_PENDING_BYTES`` of payload at
    most) wait for a slot. Beyond that an event
    is dropped, as at-most-once delivery allows, instead of letting the
    connection's buffers grow: its endpoint's statistics count it (``shed``, and
    an error), and a warning is logged.
    """

    __slots__ = (
        "_dropped",
        "_group",
        "_nc",
        "_pending_bytes",
        "_router",
        "_running",
        "_subscriptions",
        "_warned_at",
        "micro_service",
    )

    def __init__(
        self,
        nc: NATS,
        router: Router,
        group: str | None,
        max_concurrency: int,
        micro_service: MicroService | None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        super().__init__(max_concurrency, max_pending)
        self._nc = nc
        self._router = router
        self._group = group
        self.micro_service = micro_service
        self._subscriptions: list[Subscription] = []
        self._running: set[asyncio.Task[None]] = set()
        self._pending_bytes = 0
        self._dropped = 0
        """Events dropped since the last warning."""
        self._warned_at = -_WARN_EVERY

    async def start(self) -> None:
        self.bind(self._running)
        prepare(self._nc)
        for consumed in self._router.consumed:
            self._subscriptions.append(
                await subscribe(
                    self._nc, consumed.filter_subject, self._taker(consumed), self._group or ""
                )
            )
        await flush(self._nc)

    async def stop(self, grace_period: float) -> None:
        await drain(self._nc, self._subscriptions)
        self._subscriptions.clear()
        # Runners that finish start others for what is still ready: waited for too.
        await finish_within(self._running, grace_period)
        left = self.drop_waiting()
        if left:
            logger.warning(
                "%d core NATS events dropped: not handled within the grace period", len(left)
            )
        # Runners cancelled mid-item leave nothing in hand either.
        self.in_hand = 0

    def _taker(self, consumed: Consumed) -> Subscriber:
        stats = consumed.endpoint.stats
        admit = self.admit

        def take(msg: Msg) -> None:
            if not admit((consumed, msg)):
                stats.shed += 1
                stats.record(DROPPED)
                self._warn_dropped(consumed)

        return take

    def _warn_dropped(self, consumed: Consumed) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            logger.warning(
                "%d core NATS events dropped (last: %s): %d in hand and %d waiting reach the "
                "limits (max_concurrency, max_pending, MAX_PENDING_BYTES); the endpoints' shed "
                "statistics count them all",
                self._dropped,
                consumed.event.path,
                self.in_hand,
                len(self.backlog),
            )
            self._warned_at = now
            self._dropped = 0

    def _serve(self, item: Taken) -> Awaitable[None]:
        return self._handle(*item)

    def _enter_backlog(self, item: Taken) -> bool:
        consumed, msg = item
        if self._pending_bytes + len(msg.data) > MAX_PENDING_BYTES:
            return False
        self._pending_bytes += len(msg.data)
        consumed.endpoint.stats.pending += 1
        return True

    def _leave_backlog(self, item: Taken) -> None:
        consumed, msg = item
        self._pending_bytes -= len(msg.data)
        consumed.endpoint.stats.pending -= 1

    async def _handle(self, consumed: Consumed, msg: Msg) -> None:
        stats = consumed.endpoint.stats
        stats.in_flight += 1
        started = time.perf_counter_ns()
        error: str | None = None
        outcome = UNDECODABLE
        try:
            headers = msg.headers
            content_type = headers.get(CONTENT_TYPE) if headers else None
            event = codec.decode(
                consumed.event.event_type,
                msg.data,
                codec.is_json(content_type) if content_type else False,
            )
            outcome = FAILED
            context = EventContext(consumed.event, msg.subject, headers, consumer=self._group)
            await consumed.handler(event, context)
            outcome = HANDLED
        except Exception as exc:
            # At most once: nothing redelivers the event, so the log is all that is left of it.
            error = f"{type(exc).__name__}: {exc}"
            logger.exception("event %s on %s dropped", consumed.event.path, msg.subject)
        finally:
            stats.in_flight -= 1
            elapsed = time.perf_counter_ns() - started
            stats.record(error, elapsed)
            if telemetry.handled is not None:
                telemetry.handled(consumed.event.path, self._group or "", elapsed, outcome)
