"""Publishing through nats-py's pending buffer and flusher, and its flush and unsubscribe.

``start_publish`` does what nats-py's ``publish()`` does, checks and errors included,
with a ready header block and without its four coroutines; on a connection
whose internals do not fit (``paths``) it calls ``publish()`` itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from nats import errors as nats_errors
from nats.aio import client as nats_client
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.aio.transport import TcpTransport

from natsrpc.transport.header_blocks import parse_block
from natsrpc.transport.natspy.paths import Paths, _known, paths_of
from natsrpc.transport.tasks import spawn

DIRECT_WRITE_GAP = 50e-6
"""Seconds after a direct socket write during which publishes go to nats-py's flusher."""
_COPY_LIMIT = 4096
"""Payload bytes above which a publish queues its payload as a chunk of its own."""
_CONNECTED = NATS.CONNECTED

_validate_subject: Callable[[str], None] | None = getattr(nats_client, "_validate_subject", None)


def start_publish(
    nc: NATS,
    subject: str,
    payload: bytes,
    reply: str = "",
    headers: bytes | None = None,
    *,
    more: bool = False,
    received: bool = False,
) -> Coroutine[Any, Any, Any] | None:
    """Publish without a coroutine of its own unless there is something to wait for.

    ``headers`` is a ready block (``header_blocks.header_block``). Returns None
    once the message is written or handed to the flusher; else what the caller
    must await (nats-py's outbound buffer is over its limit, or the public
    path). Raises what nats-py's ``publish()`` raises. ``more``: the caller is
    about to publish again, so leave this one for the flusher, to go out with
    the next ones in one write. ``received``: ``subject`` is the reply subject
    of a message that arrived, which its protocol line could not have carried
    malformed.
    """
    paths = _known.get(id(nc)) or paths_of(nc)
    if not paths.publish_directly:
        parsed = None if headers is None else parse_block(headers)
        return nc.publish(subject, payload, reply=reply, headers=parsed)
    if _enqueue(nc, subject, payload, reply, headers, received):
        # The flusher writes everything pending, this message included.
        return nc._flush_pending(force_flush=True)
    flush_queue = nc._flush_queue
    if flush_queue is not None and flush_queue.empty() and (more or not _write_now(nc, paths)):
        _kick_flusher(nc, flush_queue)
    return None


def _enqueue(
    nc: NATS, subject: str, payload: bytes, reply: str, headers: bytes | None, received: bool
) -> bool:
    """Check and queue a publish as nats-py does; True if nats-py would now force a flush."""
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


def _kick_flusher(nc: NATS, flush_queue: asyncio.Queue[asyncio.Future[Any]]) -> None:
    flusher = nc._flusher_task
    if nc.is_connected and flusher is not None and not flusher.done():
        # What nats-py's _flush_pending() does, without a coroutine to run it.
        flush_queue.put_nowait(asyncio.get_running_loop().create_future())
    else:
        spawn(nc._flush_pending())


def _write_now(nc: NATS, paths: Paths) -> bool:
    """Write the pending commands to the socket now, instead of one loop iteration later.

    nats-py hands every publish to its flusher task, which writes on the next
    iteration of the event loop: one more wake-up and poll per message, which a
    call waiting for its reply pays in latency. A publish is written at once
    when none was written in the last ``DIRECT_WRITE_GAP`` and nats-py's reader
    holds no more received messages; otherwise it goes to the flusher and
    leaves with the others in one write, as before. Only a plain TCP connection
    whose socket buffer is empty qualifies, so the flusher's backpressure
    (``drain``) still applies whenever the socket cannot keep up.

    The decision reads nothing of the event loop's internals, so it is the same
    on asyncio's loop and on uvloop: a burst of publishes from callbacks of one
    loop iteration is caught by the gap (the first is written, the rest follow
    in the flusher's write), and callers that know more is coming say ``more``.
    """
    transport = nc._transport
    if not paths.write_directly or nc._status != _CONNECTED or type(transport) is not TcpTransport:
        return False
    socket_writer = transport._io_writer
    if socket_writer is None:
        return False
    if paths.socket_writer is not socket_writer:
        # First write, or nats-py reconnected with a new socket.
        paths.socket_writer = socket_writer
        paths.last_write = 0.0
    now = time.monotonic()
    if (
        now - paths.last_write < DIRECT_WRITE_GAP
        or socket_writer.transport.get_write_buffer_size()
        or reading_more(nc)
    ):
        # Publishing in a burst (a stream's window, a batch of replies, the
        # messages of one socket read): the flusher sends it in one write.
        return False
    paths.last_write = now
    try:
        socket_writer.writelines(nc._pending)
    except (OSError, RuntimeError):
        # Let the flusher meet the failure and reconnect, as it would have anyway.
        return False
    nc._pending = []
    nc._pending_data_size = 0
    return True


def reading_more(nc: NATS) -> bool:
    """Whether nats-py's reader holds received bytes it has yet to parse.

    Inside a subscriber that says the message is one of a burst from one
    socket read (requests at high concurrency), more of which follow at once.
    False where nats-py's parser does not fit.
    """
    parser = getattr(nc, "_ps", None)
    return bool(getattr(parser, "buf", None))


def write_queued(nc: NATS) -> Coroutine[Any, Any, Any] | None:
    """What writes every command nats-py has queued (None where nats-py offers no way).

    nats-py's ``flush()`` writes its PING straight to the socket while SUB,
    UNSUB and PUB commands still wait in the pending buffer (nats-py 2.3 to at
    least 2.16); awaiting this first makes the PONG prove the server saw them.
    """
    flush_pending = getattr(nc, "_flush_pending", None)
    return None if flush_pending is None else flush_pending(force_flush=True)


async def unsubscribe_now(nc: NATS, subscription: Subscription) -> bool:
    """Queue UNSUB for ``subscription`` and keep taking its messages; False where not possible."""
    send_unsubscribe = getattr(nc, "_send_unsubscribe", None)
    sid = getattr(subscription, "_id", None)
    if send_unsubscribe is None or not isinstance(sid, int):
        return False
    await send_unsubscribe(sid)
    return True
