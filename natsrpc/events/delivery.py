"""Events in hand and how each one is settled: ack, nak, terminate, in-progress."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from natsrpc import telemetry
from natsrpc.events import dead_letters
from natsrpc.events.routing import Consumed
from natsrpc.status import StatusCode

logger = logging.getLogger("natsrpc.events")

_ACK = b"+ACK"
_NAK = b"-NAK"
_PROGRESS = b"+WPI"
_TERM = b"+TERM"


class EventInHand:
    """One event in hand, from its arrival until it is settled."""

    __slots__ = ("consumed", "event", "key", "msg", "signalled", "taken_at")

    def __init__(self, msg: Msg) -> None:
        self.msg = msg
        self.taken_at = time.monotonic()
        self.signalled = self.taken_at
        self.consumed: Consumed | None = None
        self.event: Message | None = None
        self.key: str | None = None


class Settler:
    """Answers the server for every event in hand, exactly once each.

    While an event is in hand (running or waiting for its key's turn) it gets an
    in-progress signal every third of ``ack_wait``, so the server does not
    redeliver it elsewhere however long its handler runs.
    """

    def __init__(self, nc: NATS, ack_wait: float, stream: str, group: str) -> None:
        self._nc = nc
        self._interval = ack_wait / 3
        self._stream = stream
        self._group = group
        self._in_hand: dict[int, EventInHand] = {}
        self._ticker: asyncio.Task[None] | None = None

    @property
    def in_hand(self) -> int:
        return len(self._in_hand)

    def take(self, msg: Msg) -> EventInHand:
        delivery = EventInHand(msg)
        self._in_hand[id(delivery)] = delivery
        return delivery

    async def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._signal_progress())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)

    async def ack(self, delivery: EventInHand) -> None:
        await self._answer(delivery, _ACK)

    async def nak(self, delivery: EventInHand, delay: float) -> None:
        # An explicit delay even when it is the consumer's own backoff: a plain Nak
        # ignores BackOff and would be redelivered at once, in a hot loop.
        body = _NAK
        if delay > 0:
            body += b" " + json.dumps({"delay": int(delay * 1e9)}).encode()
        await self._answer(delivery, body)

    async def dead_letter(
        self,
        delivery: EventInHand,
        code: StatusCode,
        message: str,
        reason: str,
        details: Sequence[AnyMessage] = (),
    ) -> None:
        """Store the event as a dead letter, then terminate it; raises when the store failed."""
        msg = delivery.msg
        meta = msg.metadata
        await dead_letters.dead_letter(
            self._nc,
            subject=msg.subject,
            data=msg.data,
            headers=msg.headers,
            stream=meta.stream,
            stream_sequence=meta.sequence.stream,
            consumer=self._group,
            deliveries=meta.num_delivered,
            code=code,
            message=message,
            reason=reason,
            details=details,
        )
        await self._answer(delivery, _TERM + b" " + reason.encode())

    async def _answer(self, delivery: EventInHand, body: bytes) -> None:
        if self._in_hand.pop(id(delivery), None) is None:
            return
        if telemetry.settled is not None:
            telemetry.settled(self._stream, self._group, delivery, body)
        try:
            await self._nc.publish(delivery.msg.reply, body)
        except Exception:
            # Unanswered, the event is redelivered after ack_wait: at least once still holds.
            logger.exception("could not answer for %s", delivery.msg.subject)

    async def _signal_progress(self) -> None:
        while True:
            await asyncio.sleep(self._interval / 2)
            now = time.monotonic()
            for delivery in list(self._in_hand.values()):
                if now - delivery.signalled >= self._interval:
                    delivery.signalled = now
                    try:
                        await self._nc.publish(delivery.msg.reply, _PROGRESS)
                    except Exception:
                        logger.warning("could not signal progress for %s", delivery.msg.subject)
