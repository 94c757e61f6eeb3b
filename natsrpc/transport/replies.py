"""Routing replies to the unary calls waiting for them, one router per connection.

natsrpc keeps its own reply routing rather than calling ``nc.request()``:
nats-py wraps every reply future in ``asyncio.wait_for``, which costs more than
the rest of a call's client-side work (see bench/PROFILE.md), and it cannot tell
a call that its subject is forbidden.

One wildcard subscription, ``<inbox prefix>.<nuid>.*``, receives every reply on
a connection; the last token names the call. The router also chains the
connection's error callback (the application's callback still runs): when
nats-server refuses a publish with ``Permissions Violation for Publish to
"<subject>"``, the calls waiting on that subject fail with PERMISSION_DENIED at
once instead of waiting for their timeout. When it refuses the reply inbox
subscription itself, every waiting call fails, and so does every later call
until the connection reconnects.

It chains the disconnected callback the same way: when the connection drops,
the calls waiting for replies fail at once with UNAVAILABLE (their requests may
or may not have run, as when a gRPC connection breaks mid-call); a retry policy
can then repeat the idempotent ones once nats-py has reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import weakref
from collections.abc import Callable
from itertools import count

from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.protocol.subjects import cancel_subject
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.connection import is_no_responders
from natsrpc.transport.natspy import callbacks
from natsrpc.transport.wire import prepare, publish, queue_publish, subscribe

_PUBLISH_VIOLATION = re.compile(r'permissions violation for publish to "([^"]+)"', re.IGNORECASE)
_SUBSCRIBE_VIOLATION = re.compile(
    r'permissions violation for subscription to "([^"]+)"', re.IGNORECASE
)


TIMEOUT_RESOLUTION = 0.005
"""Seconds a call may outlive its timeout: expired calls are failed in sweeps."""


class _Waiting:
    __slots__ = ("deadline", "future", "subject")

    def __init__(self, future: asyncio.Future[Msg], subject: str, deadline: float) -> None:
        self.future = future
        self.subject = subject
        self.deadline = deadline
        """Loop time the call times out; ``math.inf`` for none."""


class ReplyRouter:
    """The reply inbox of one connection and the calls waiting on it."""

    def __init__(self, nc: NATS) -> None:
        self._nc: weakref.ref[NATS] = weakref.ref(nc)
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._subscribing: asyncio.Future[None] | None = None
        self._waiting: dict[str, _Waiting] = {}
        self._tokens = count()
        # (reconnect count) at which the server refused the inbox subscription.
        self._inbox_denied_at: int | None = None
        self._next_sweep = math.inf
        self._sweep_handle: asyncio.TimerHandle | None = None
        prepare(nc)
        self.chained = callbacks.chain(nc, self._on_error, self._on_disconnected)

    async def request(
        self,
        nc: NATS,
        subject: str,
        payload: bytes,
        headers: bytes | None,
        timeout: float,
        future: asyncio.Future[Msg],
        announce_cancel: bool = False,
    ) -> Msg:
        """Publish a request; wait up to ``timeout`` seconds (``math.inf``: no limit) for the reply.

        ``headers`` is a ready header block (``connection.header_block``).
        ``future`` receives the reply; the caller may fail it early with
        CANCELLED to end the wait (a cancelled call). When the wait ends that
        way, or its task is cancelled, and ``announce_cancel`` is set, the
        call's reply subject goes to the service's cancel subject, so that the
        instance running it can stop (docs/protocol.md §2.4). Raises
        nats-py's NoRespondersError and TimeoutError, and RpcError for a
        permissions violation.
        """
        if self._subscription is None:
            await self._subscribe(nc)
        if self._inbox_denied_at is not None:
            self._check_inbox_allowed(nc)
        token = str(next(self._tokens))
        waiting = self._waiting
        deadline = math.inf
        if timeout != math.inf:
            loop = future.get_loop()
            deadline = loop.time() + timeout
            if deadline < self._next_sweep:
                self._schedule_sweep(loop, deadline)
        waiting[token] = _Waiting(future, subject, deadline)
        try:
            # With other calls waiting, more requests are on their way: leave this one
            # to go out with them in one write rather than a socket write of its own.
            await publish(
                nc, subject, payload, self._prefix + token, headers, more=len(waiting) > 1
            )
            reply = await future
        except (asyncio.CancelledError, RpcError) as exc:
            if announce_cancel and _given_up(exc):
                _announce_cancel(nc, subject, self._prefix + token)
            raise
        finally:
            del waiting[token]
        if is_no_responders(reply.data, reply.headers):
            raise nats_errors.NoRespondersError
        return reply

    # One sweep per router instead of a timer per call: a TimerHandle costs each
    # call an allocation, a heap push and the clean-up of its cancel. The sweep is
    # due at the earliest deadline; calls that end before it leave nothing behind.

    def _schedule_sweep(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
        self._next_sweep = when
        self._sweep_handle = loop.call_at(when + TIMEOUT_RESOLUTION, self._sweep)

    def _sweep(self) -> None:
        self._sweep_handle = None
        self._next_sweep = math.inf
        now = asyncio.get_running_loop().time()
        earliest = math.inf
        for waiting in self._waiting.values():
            if waiting.deadline <= now:
                if not waiting.future.done():
                    waiting.future.set_exception(nats_errors.TimeoutError)
            elif waiting.deadline < earliest:
                earliest = waiting.deadline
        if earliest != math.inf:
            self._schedule_sweep(asyncio.get_running_loop(), earliest)

    async def _subscribe(self, nc: NATS) -> None:
        if self._subscribing is not None:
            # Another call is already subscribing; wait for it.
            await asyncio.shield(self._subscribing)
            return
        self._subscribing = asyncio.get_running_loop().create_future()
        try:
            # A fresh inbox under the connection's inbox prefix, one token deeper per call.
            prefix = nc.new_inbox() + "."
            self._subscription = await subscribe(nc, prefix + "*", self._on_reply)
            self._prefix = prefix
        finally:
            self._subscribing.set_result(None)
            self._subscribing = None

    def _on_reply(self, msg: Msg) -> None:
        waiting = self._waiting.get(msg.subject[len(self._prefix) :])
        if waiting is not None and not waiting.future.done():
            waiting.future.set_result(msg)

    def _on_disconnected(self) -> None:
        for waiting in self._waiting.values():
            if not waiting.future.done():
                waiting.future.set_exception(
                    RpcError(
                        StatusCode.UNAVAILABLE,
                        "the NATS connection was lost while waiting for the reply; "
                        "the request may have been delivered",
                    )
                )

    def _on_error(self, error: Exception) -> None:
        text = str(error)
        if "permissions violation" not in text.lower():
            return
        # nats-py reports the server's error text lower-cased, so subjects are
        # compared without case; docs/operations.md warns about the consequence.
        match = _PUBLISH_VIOLATION.search(text)
        if match is not None:
            denied = match.group(1).lower()
            for waiting in self._waiting.values():
                if waiting.subject.lower() == denied:
                    _deny(
                        waiting.future,
                        f"this NATS connection's user may not publish to {waiting.subject!r} "
                        "(permissions violation)",
                    )
            return
        match = _SUBSCRIBE_VIOLATION.search(text)
        nc = self._nc()
        if match is None or nc is None or match.group(1).lower() != (self._prefix + "*").lower():
            return
        self._inbox_denied_at = nc.stats["reconnects"]
        for waiting in self._waiting.values():
            _deny(waiting.future, self._inbox_message())

    def _check_inbox_allowed(self, nc: NATS) -> None:
        if self._inbox_denied_at == nc.stats["reconnects"]:
            raise RpcError(StatusCode.PERMISSION_DENIED, self._inbox_message())
        # A reconnect subscribes again, and the new server may allow it.
        self._inbox_denied_at = None

    def _inbox_message(self) -> str:
        return (
            f"this NATS connection's user may not subscribe to its reply inbox {self._prefix}* "
            '(permissions violation; allow subscribe to "_INBOX.>"); the request may have '
            "been delivered"
        )


def _deny(future: asyncio.Future[Msg], message: str) -> None:
    if not future.done():
        future.set_exception(RpcError(StatusCode.PERMISSION_DENIED, message))


router: Callable[[NATS], ReplyRouter] = callbacks.per_connection(ReplyRouter)
"""The connection's router, made on first use and again after ``connect()`` chains anew."""


def _given_up(error: BaseException) -> bool:
    """The caller ended the wait (not a timeout, a refusal or a lost connection)."""
    return isinstance(error, asyncio.CancelledError) or (
        isinstance(error, RpcError) and error.code is StatusCode.CANCELLED
    )


def _announce_cancel(nc: NATS, method_subject: str, reply_subject: str) -> None:
    # Best effort, and never in the way of the cancellation itself: should the
    # notice not go out, the server stops the call at the caller's deadline.
    with contextlib.suppress(Exception):
        queue_publish(nc, cancel_subject(method_subject), reply_subject.encode())
