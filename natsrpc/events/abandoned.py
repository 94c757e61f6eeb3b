"""Dead-lettering the events no attempt answered for.

When a handler crashes its process (or hangs without its process signalling
progress) on every one of ``max_deliver`` deliveries, no consumer ever sees the
event fail, and nats-server stops delivering it with only an advisory to say
so. Every consumer instance listens for that advisory in one queue group, and
the instance that gets it stores the event as a dead letter.
"""

from __future__ import annotations

import asyncio
import json
import logging

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import errors as js_errors

from natsrpc.events import dead_letters
from natsrpc.status import StatusCode

logger = logging.getLogger("natsrpc.events")

MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
ADVISORY_QUEUE = "natsrpc-dead-letters"
"""The queue group every instance of every consumer group hears advisories in."""


class AbandonedWatch:
    """Stores the events of one consumer that ran out of deliveries unanswered."""

    def __init__(self, nc: NATS, stream: str, consumer: str) -> None:
        self._nc = nc
        self._stream = stream
        self._consumer = consumer
        self._subscription: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        subject = MAX_DELIVERIES_ADVISORY.format(stream=self._stream, consumer=self._consumer)
        self._subscription = await self._nc.subscribe(
            subject, queue=ADVISORY_QUEUE, cb=self._on_advisory
        )

    async def stop(self) -> None:
        if self._subscription is not None and not self._nc.is_closed:
            await self._subscription.unsubscribe()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=dead_letters.STORE_TIMEOUT)

    async def _on_advisory(self, msg: Msg) -> None:
        try:
            advisory = json.loads(msg.data)
            sequence, deliveries = int(advisory["stream_seq"]), int(advisory["deliveries"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed max-deliveries advisory: %r", msg.data[:200])
            return
        task = asyncio.get_running_loop().create_task(self._store(sequence, deliveries))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, sequence: int, deliveries: int) -> None:
        try:
            raw = await self._nc.jetstream().get_msg(self._stream, sequence)
        except js_errors.NotFoundError:
            return  # already gone (acked on a work queue, or aged out)
        try:
            await dead_letters.dead_letter(
                self._nc,
                subject=raw.subject or "",
                data=raw.data or b"",
                headers=raw.headers,
                stream=self._stream,
                stream_sequence=sequence,
                consumer=self._consumer,
                deliveries=deliveries,
                code=StatusCode.DEADLINE_EXCEEDED,
                message=f"no answer to any of {deliveries} deliveries (handler crashed or hung)",
                reason=dead_letters.Reason.ABANDONED,
            )
        except Exception:
            logger.exception(
                "could not dead-letter event %d of %s abandoned by %s",
                sequence,
                self._stream,
                self._consumer,
            )
