"""Publishing and subscribing for natsrpc's own messages, the cheap way where nats-py allows.

Three costs of nats-py sit on every natsrpc message (bench/PROFILE.md prices them):

- ``publish()`` rebuilds the header block from a dict for every message and
  passes through four coroutines, and its flusher task writes one event-loop
  iteration later; natsrpc's frames repeat a handful of fixed headers;
- a subscription with a callback has a queue and a task of its own: every
  message is queued, the task wakes on the next loop iteration and awaits the
  callback;
- parsing a header block goes through a generator per header name.

``publish``, ``start_publish``, ``queue_publish`` and ``subscribe`` go around them through
``transport.natspy``, doing what nats-py does, checks and errors included, on
a connection whose internals fit; on any other connection, or with
``NATSRPC_FAST_PATH=0``, they use nats-py's public API for the same result.
"""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.transport.natspy.inbound import Subscriber, subscribe_directly
from natsrpc.transport.natspy.outbound import reading_more, start_publish
from natsrpc.transport.natspy.paths import Paths, paths_of
from natsrpc.transport.tasks import spawn

__all__ = [
    "Subscriber",
    "prepare",
    "publish",
    "queue_publish",
    "reading_more",
    "start_publish",
    "subscribe",
]


def prepare(nc: NATS) -> Paths:
    """natsrpc's first use of ``nc``: check its nats-py internals once and pick its paths.

    Where they fit, this installs natsrpc's message handling on the connection
    (``natspy.inbound.take_messages``); docs/operations.md says what that changes.
    Every function here prepares the connection itself; calling it first only
    moves the check out of a call's way. Idempotent.
    """
    return paths_of(nc)


async def publish(
    nc: NATS,
    subject: str,
    payload: bytes,
    reply: str = "",
    headers: bytes | None = None,
    *,
    more: bool = False,
) -> None:
    """``nc.publish`` with a ready header block (``header_block``), raising what it raises.

    ``more`` says the caller is about to publish again: leave this one for the
    flusher, to go out with the next ones in one write.
    """
    wait = start_publish(nc, subject, payload, reply, headers, more=more)
    if wait is not None:
        await wait


def queue_publish(
    nc: NATS, subject: str, payload: bytes, reply: str = "", headers: bytes | None = None
) -> None:
    """Queue a publish without waiting, for frames nobody waits on (credit, heartbeat, cancel).

    It leaves with the connection's next write, usually a message frame's,
    instead of costing a task and a write of its own.
    """
    # ``more``: never written at once, always left to the flusher.
    wait = start_publish(nc, subject, payload, reply, headers, more=True)
    if wait is not None:
        spawn(wait)


async def subscribe(
    nc: NATS, subject: str, subscriber: Subscriber, queue: str = ""
) -> Subscription:
    """Subscribe ``subscriber``, which takes each message at once and never waits.

    It runs inside nats-py's reader where the connection allows, else in the
    task nats-py gives a subscription with a callback.
    """
    if paths_of(nc).deliver_directly:
        return await subscribe_directly(nc, subject, subscriber, queue)

    async def callback(msg: Msg) -> None:
        subscriber(msg)

    return await nc.subscribe(subject, queue=queue, cb=callback)
