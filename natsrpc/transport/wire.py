"""nats-py's per-message work, done cheaper for natsrpc's own messages.

Three costs of nats-py sit on every natsrpc message (bench/PROFILE.md prices them):

- ``publish()`` rebuilds the header block from a dict for every message and
  passes through four coroutines, and its flusher task writes one event-loop
  iteration later; natsrpc's frames repeat a handful of fixed headers;
- a subscription with a callback has a queue and a task of its own: every
  message is queued, the task wakes on the next loop iteration and awaits the
  callback;
- parsing a header block goes through a generator per header name.

``publish`` (and ``send``), ``post``, ``subscribe`` and ``speed_up`` go around them with
nats-py's internals (the pending buffer and flusher queue, a subscription's
pending queue, ``_process_headers``), doing what nats-py does, checks and
errors included; with a nats-py that lacks them they use the public API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from nats import errors as nats_errors
from nats.aio import client as nats_client
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.aio.transport import TcpTransport

from natsrpc.protocol.channel import spawn
from natsrpc.transport.header_blocks import parse_block, parse_plain

logger = logging.getLogger("natsrpc.transport")

Delivery = Callable[[Msg], None]
"""A subscriber that takes each message at once and never waits."""

DIRECT_WRITE_GAP = 50e-6
"""Seconds after a direct socket write during which publishes go to nats-py's flusher."""
_COPY_LIMIT = 4096
"""Payload bytes above which a publish queues its payload as a chunk of its own."""
_CONNECTED = NATS.CONNECTED

_FAST_PUBLISH = all(
    hasattr(NATS, name) for name in ("_flush_pending", "_send_command", "is_draining_pubs")
)
_validate_subject: Callable[[str], None] | None = getattr(nats_client, "_validate_subject", None)


def _enqueue(
    nc: NATS,
    subject: str,
    payload: bytes,
    reply: str,
    headers: bytes | None,
    received: bool = False,
) -> bool:
    """Check and queue a publish as nats-py does; True if nats-py would now force a flush.

    ``received``: ``subject`` is a reply subject a message arrived with, which
    the NATS protocol line it came in could not have carried malformed.
    """
    if _validate_subject is not None and not nc._skip_subject_validation:
        if not received:
            _validate_subject(subject)
        if reply:
            _validate_subject(reply)
    size = len(payload)
    limit = nc._max_pending_size
    if nc._status != _CONNECTED:
        if nc.is_closed:
            raise nats_errors.ConnectionClosedError
        if nc.is_draining_pubs:
            raise nats_errors.ConnectionDrainingError
        if not nc.is_connected and (limit <= 0 or size + nc._pending_data_size > limit):
            raise nats_errors.OutboundBufferLimitError
    if size > nc._max_payload:
        raise nats_errors.MaxPayloadError
    if not subject:
        raise nats_errors.BadSubjectError
    if headers is None:
        line = b"PUB %s %s %d\r\n" % (subject.encode(), reply.encode(), size)
    else:
        line = b"HPUB %s %s %d %d\r\n%s" % (
            subject.encode(),
            reply.encode(),
            len(headers),
            len(headers) + size,
            headers,
        )
    stats = nc.stats
    stats["out_msgs"] += 1
    stats["out_bytes"] += size
    pending = nc._pending
    if size > _COPY_LIMIT and type(payload) is bytes:
        # The socket write joins the pending chunks anyway: a large (immutable)
        # payload is not copied into a command of its own first.
        pending += (line, payload, b"\r\n")
    else:
        pending.append(line + payload + b"\r\n")
    nc._pending_data_size += len(line) + size + 2
    return limit > 0 and nc._pending_data_size > limit


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
    wait = send(nc, subject, payload, reply, headers, more=more)
    if wait is not None:
        await wait


def send(
    nc: NATS,
    subject: str,
    payload: bytes,
    reply: str = "",
    headers: bytes | None = None,
    *,
    more: bool = False,
    received: bool = False,
) -> Coroutine[Any, Any, Any] | None:
    """``publish`` without a coroutine of its own unless there is something to wait for.

    Returns None once the message is written or handed to the flusher; else
    what the caller must await (nats-py's outbound buffer is over its limit,
    or a nats-py without the internals used here). Raises what ``publish`` raises.
    ``received``: ``subject`` is the reply subject of a message that arrived.
    """
    if not _FAST_PUBLISH:
        parsed = None if headers is None else parse_block(headers)
        return nc.publish(subject, payload, reply=reply, headers=parsed)
    if _enqueue(nc, subject, payload, reply, headers, received):
        # The flusher writes everything pending, this message included.
        return nc._flush_pending(force_flush=True)
    flush_queue = nc._flush_queue
    if flush_queue is not None and flush_queue.empty() and (more or not _write_now(nc)):
        _kick_flusher(nc, flush_queue)
    return None


def post(
    nc: NATS, subject: str, payload: bytes, reply: str = "", headers: bytes | None = None
) -> None:
    """Queue a publish without waiting, for frames nobody waits on (credit, heartbeat, cancel).

    It leaves with the connection's next write, usually a message frame's,
    instead of costing a task and a write of its own.
    """
    # ``more``: never written at once, always left to the flusher.
    wait = send(nc, subject, payload, reply, headers, more=True)
    if wait is not None:
        spawn(wait)


def _kick_flusher(nc: NATS, flush_queue: asyncio.Queue[asyncio.Future[Any]]) -> None:
    flusher = nc._flusher_task
    if nc.is_connected and flusher is not None and not flusher.done():
        # What nats-py's _flush_pending() does, without a coroutine to run it.
        flush_queue.put_nowait(asyncio.get_running_loop().create_future())
    else:
        spawn(nc._flush_pending())


class _Writer:
    """When a connection last wrote straight to its socket."""

    __slots__ = ("last_write", "socket_writer")

    def __init__(self, socket_writer: asyncio.StreamWriter) -> None:
        self.socket_writer = socket_writer
        self.last_write = 0.0


_writers: weakref.WeakKeyDictionary[NATS, _Writer] = weakref.WeakKeyDictionary()


def reading_more(nc: NATS) -> bool:
    """Whether nats-py's reader holds received bytes it has yet to parse.

    Inside a subscriber that says the message is one of a burst from one
    socket read (requests at high concurrency), more of which follow at once.
    """
    parser = getattr(nc, "_ps", None)
    return bool(getattr(parser, "buf", None))


def _write_now(nc: NATS) -> bool:
    """Write the pending commands to the socket now, instead of one loop iteration later.

    nats-py hands every publish to its flusher task, which writes on the next
    iteration of the event loop: one more wake-up and poll per message, which a
    call waiting for its reply pays in latency. A publish is written at once
    when none was written in the last ``DIRECT_WRITE_GAP`` and nothing else is
    waiting to run; otherwise it goes to the flusher and leaves with the others
    in one write, as before. Only a plain TCP connection whose socket buffer is
    empty qualifies, so the flusher's backpressure (``drain``) still applies
    whenever the socket cannot keep up.
    """
    transport = nc._transport
    if nc._status != _CONNECTED or type(transport) is not TcpTransport:
        return False
    writer = _writers.get(nc)
    socket_writer = transport._io_writer
    if writer is None or writer.socket_writer is not socket_writer:
        # First write, or nats-py reconnected with a new socket.
        if socket_writer is None:
            return False
        writer = _writers[nc] = _Writer(socket_writer)
    now = time.monotonic()
    if (
        now - writer.last_write < DIRECT_WRITE_GAP
        or socket_writer.transport.get_write_buffer_size()
    ):
        # Publishing in a burst (a stream's window, a batch of replies): the
        # flusher sends the rest of the burst in one write.
        return False
    if getattr(asyncio.get_running_loop(), "_ready", None) or reading_more(nc):
        # asyncio's loop has more callbacks to run in this iteration, or nats-py's
        # reader more received messages, which may well publish too (calls at
        # high concurrency): the flusher takes them all.
        return False
    writer.last_write = now
    try:
        socket_writer.writelines(nc._pending)
    except (OSError, RuntimeError):
        # Let the flusher meet the failure and reconnect, as it would have anyway.
        return False
    nc._pending = []
    nc._pending_data_size = 0
    return True


class _Direct:
    """Stands in for a subscription's pending queue: each message goes to the subscriber at once.

    nats-py's ``_process_msg`` counts the message as pending and puts it here;
    the subscriber runs right away inside nats-py's reader, so nothing is ever
    pending, and ``drain()``'s wait for the queue to empty returns at once.
    """

    __slots__ = ("_deliver", "_subscription")

    def __init__(self, subscription: Subscription, deliver: Delivery) -> None:
        self._subscription = subscription
        self._deliver = deliver

    def put_nowait(self, msg: Msg) -> None:
        self._subscription._pending_size -= len(msg.data)
        self.deliver(msg)

    def deliver(self, msg: Msg) -> None:
        try:
            self._deliver(msg)
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


async def subscribe(nc: NATS, subject: str, deliver: Delivery, queue: str = "") -> Subscription:
    """Subscribe ``deliver``, which runs in nats-py's reader for each message and never waits."""
    if not _FAST_PUBLISH:

        async def callback(msg: Msg) -> None:
            deliver(msg)

        return await nc.subscribe(subject, queue=queue, cb=callback)
    # Without a callback nats-py starts no task for the subscription.
    subscription = await nc.subscribe(subject, queue=queue)
    queued = subscription._pending_queue
    direct = _Direct(subscription, deliver)
    subscription._pending_queue = direct  # type: ignore[assignment]
    while not queued.empty():
        direct.put_nowait(queued.get_nowait())
    return subscription


_BUILD_MESSAGE = getattr(NATS, "_build_message", None)
_POSITIONAL_MSG = [field.name for field in dataclasses.fields(Msg)] == [
    "_client",
    "subject",
    "reply",
    "data",
    "headers",
    "_metadata",
    "_ackd",
    "_sid",
]
_parse_header_lines = getattr(NATS, "_parse_header_lines", None)
_FAST_HEADERS = (
    _parse_header_lines is not None and getattr(nats_client, "parse_email", None) is None
)


def speed_up(nc: NATS) -> None:
    """Take ``nc``'s messages for natsrpc's subscriptions and plain header blocks the short way.

    Messages for other subscriptions, and header blocks with a status line, keep
    nats-py's own handling. Idempotent.
    """
    process_headers = getattr(nc, "_process_headers", None)
    process_msg = getattr(nc, "_process_msg", None)
    if not _FAST_HEADERS or getattr(process_headers, "__self__", None) is not nc:
        return
    assert process_headers is not None and process_msg is not None
    original_headers = process_headers
    original_msg = process_msg
    subscriptions = nc._subs
    stats = nc.stats
    build = nc._build_message
    if _POSITIONAL_MSG and nc.msg_class is Msg and type(nc)._build_message is _BUILD_MESSAGE:

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
        direct = subscription._pending_queue if subscription is not None else None
        if type(direct) is not _Direct:
            await original_msg(sid, subject, reply, data, headers)
            return
        # What nats-py's _process_msg does for a subscription without JetStream,
        # a future or a message limit, which natsrpc's direct ones never have.
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        subscription._received += 1
        if headers and headers[8:10] == b"\r\n":
            parsed = parse_plain(headers) or None
        else:
            parsed = await headers_of(headers)
        direct.deliver(build(sid, subject, reply, data, parsed))

    nc._process_headers = headers_of
    nc._process_msg = message
