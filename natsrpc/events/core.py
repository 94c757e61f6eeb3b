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
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc import codec
from natsrpc.events.context import EventContext
from natsrpc.events.routing import Consumed, Router
from natsrpc.protocol.headers import CONTENT_TYPE
from natsrpc.service_api.responder import MicroService
from natsrpc.transport.connection import drain, flush

logger = logging.getLogger("natsrpc.events")


class CoreSubscriber:
    """The server component that serves one ``EventHandlers`` instance over core NATS."""

    def __init__(
        self,
        nc: NATS,
        router: Router,
        group: str | None,
        max_concurrency: int,
        micro_service: MicroService | None,
    ) -> None:
        self._nc = nc
        self._router = router
        self._group = group
        self._slots = asyncio.Semaphore(max_concurrency)
        self.micro_service = micro_service
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for consumed in self._router.consumed:
            self._subscriptions.append(
                await self._nc.subscribe(
                    consumed.filter_subject, queue=self._group or "", cb=self._dispatcher(consumed)
                )
            )
        await flush(self._nc)

    async def stop(self, grace_period: float) -> None:
        await drain(self._nc, self._subscriptions)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace_period)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    def _dispatcher(self, consumed: Consumed) -> Callable[[Msg], Awaitable[None]]:
        async def dispatch(msg: Msg) -> None:
            # Waiting here holds back this subscription's deliveries: nats-py buffers
            # them up to its pending limits, so memory stays bounded.
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._handle(consumed, msg))
            self._tasks.add(task)
            task.add_done_callback(self._done)

        return dispatch

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, consumed: Consumed, msg: Msg) -> None:
        stats = consumed.endpoint.stats
        stats.in_flight += 1
        started = time.perf_counter_ns()
        error: str | None = None
        try:
            headers = msg.headers or {}
            event = codec.decode(
                consumed.event.event_type, msg.data, codec.is_json(headers.get(CONTENT_TYPE))
            )
            context = EventContext(consumed.event, msg.subject, msg.headers, consumer=self._group)
            await consumed.handler(event, context)
        except Exception as exc:
            # At most once: nothing redelivers the event, so the log is all that is left of it.
            error = f"{type(exc).__name__}: {exc}"
            logger.exception("event %s on %s dropped", consumed.event.path, msg.subject)
        finally:
            stats.in_flight -= 1
            stats.record(error, time.perf_counter_ns() - started)
