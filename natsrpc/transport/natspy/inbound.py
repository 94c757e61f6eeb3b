"""natsrpc's subscriptions served inside nats-py's reader, and its plain header blocks parsed once.

A nats-py subscription with a callback has a queue and a task of its own: every
message is queued, the task wakes on the next loop iteration and awaits the
callback. ``subscribe_directly`` gives a subscription a stand-in queue that
hands each message to natsrpc's subscriber at once. ``take_messages`` replaces
the connection's message and header processing so that messages for those
subscriptions skip the rest of nats-py's per-message work; messages for every
other subscription, and header blocks with a status line, keep nats-py's own
handling, unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.transport.header_blocks import parse_plain

logger = logging.getLogger("natsrpc.transport")

Subscriber = Callable[[Msg], None]
"""Takes each message at once and never waits."""


class _Direct:
    """Stands in for a subscription's pending queue: each message goes to the subscriber at once.

    nats-py's ``_process_msg`` counts the message as pending and puts it here;
    the subscriber runs right away inside nats-py's reader, so nothing is ever
    pending, and ``drain()``'s wait for the queue to empty returns at once.
    """

    __slots__ = ("_subscriber", "_subscription")

    def __init__(self, subscription: Subscription, subscriber: Subscriber) -> None:
        self._subscription = subscription
        self._subscriber = subscriber

    def put_nowait(self, msg: Msg) -> None:
        self._subscription._pending_size -= len(msg.data)
        self.deliver(msg)

    def deliver(self, msg: Msg) -> None:
        try:
            self._subscriber(msg)
        except Exception:
            # nats-py's reader must go on; its subscription task would report it the same way.
            logger.exception("a natsrpc subscriber failed on %s", msg.subject)

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    def full(self) -> bool:
        return False

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        return None

    async def get(self) -> Msg:
        raise RuntimeError("a natsrpc subscription hands out no messages")


async def subscribe_directly(
    nc: NATS, subject: str, subscriber: Subscriber, queue: str
) -> Subscription:
    # Without a callback nats-py starts no task for the subscription.
    subscription = await nc.subscribe(subject, queue=queue)
    queued = subscription._pending_queue
    direct = _Direct(subscription, subscriber)
    subscription._pending_queue = direct  # type: ignore[assignment]
    while not queued.empty():
        direct.put_nowait(queued.get_nowait())
    return subscription


_BUILD_MESSAGE = getattr(NATS, "_build_message", None)


def take_messages(nc: NATS) -> None:
    """Take ``nc``'s messages for natsrpc's subscriptions, and plain header blocks, the short way.

    ``paths`` calls it once per connection, after checking the internals it replaces.
    """
    original_headers = nc._process_headers
    original_msg = nc._process_msg
    subscriptions = nc._subs
    stats = nc.stats
    build = nc._build_message
    if nc.msg_class is Msg and type(nc)._build_message is _BUILD_MESSAGE:

        def build(sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> Msg:
            # nats-py's _build_message, without keyword arguments (half its cost).
            return Msg(nc, subject.decode(), reply.decode(), data, headers, None, False, sid)

    async def headers_of(headers: bytes | None) -> dict[str, str] | None:
        if not headers or headers[8:10] != b"\r\n":
            parsed: dict[str, str] | None = await original_headers(headers)
            return parsed
        return parse_plain(headers) or None

    async def message(sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        subscription = subscriptions.get(sid)
        direct: Any = subscription._pending_queue if subscription is not None else None
        if type(direct) is not _Direct:
            await original_msg(sid, subject, reply, data, headers)
            return
        # What nats-py's _process_msg does for a subscription without JetStream,
        # a future or a message limit, which natsrpc's direct ones never have.
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        direct._subscription._received += 1
        if headers and headers[8:10] == b"\r\n":
            parsed = parse_plain(headers) or None
        else:
            parsed = await headers_of(headers)
        direct.deliver(build(sid, subject, reply, data, parsed))

    nc._process_headers = headers_of  # type: ignore[method-assign]
    nc._process_msg = message  # type: ignore[method-assign]
