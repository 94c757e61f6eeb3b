"""Turning NATS permission violations into PERMISSION_DENIED for the calls they hit.

When a connection's user may not publish to a subject, nats-server drops the
message and answers ``-ERR 'Permissions Violation for Publish to "<subject>"'``.
nats-py hands that error to the connection's error callback only; the request
that caused it would wait for a reply that can never come, until its timeout.

:func:`watch` chains the connection's error callback once (the callback the
application gave to ``nats.connect`` still runs afterwards) and keeps, per
subject, the calls waiting for a reply. A publish violation for a subject fails
the calls waiting on that subject with PERMISSION_DENIED at once. A violation
for subscribing to the connection's reply inbox (the user lacks
``subscribe: "_INBOX.>"``) fails every waiting call, and later calls fail at once
until the connection reconnects.

The cost on the call path is one registration in a dict while the call waits.

nats-py reports the error text lower-cased, so a violation matches the waiting
calls on its subject case-insensitively. NATS subjects are case-sensitive; two
subjects that differ only in case and are in flight together, one allowed and
one denied, would both fail. Do not name method subjects that way.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from types import TracebackType

from nats.aio.client import Client as NATS
from nats.aio.client import ErrorCallback

from natsrpc.status import RpcError, StatusCode

_PUBLISH_VIOLATION = re.compile(r'permissions violation for publish to "([^"]+)"', re.IGNORECASE)
_SUBSCRIBE_VIOLATION = re.compile(
    r'permissions violation for subscription to "([^"]+)"', re.IGNORECASE
)


class _Watch:
    """The calls waiting for replies on one connection, by request subject."""

    __slots__ = ("__weakref__", "callback", "inbox_denied", "nc", "pending")

    def __init__(self, nc: NATS) -> None:
        self.nc: weakref.ref[NATS] = weakref.ref(nc)
        self.pending: dict[str, set[Guard]] = {}
        # (reply inbox prefix, reconnect count) when the inbox subscription was refused.
        self.inbox_denied: tuple[str, int] | None = None
        self.callback = self._chain(nc._error_cb)
        nc._error_cb = self.callback

    def _chain(self, original: ErrorCallback) -> ErrorCallback:
        watch_ref = weakref.ref(self)

        async def error_cb(error: Exception) -> None:
            watch = watch_ref()
            if watch is not None:
                watch.on_error(error)
            await original(error)

        return error_cb

    def on_error(self, error: Exception) -> None:
        text = str(error)
        if "permissions violation" not in text.lower():
            return
        match = _PUBLISH_VIOLATION.search(text)
        if match:
            denied = match.group(1).lower()
            for subject, guards in list(self.pending.items()):
                if subject.lower() == denied:
                    for guard in list(guards):
                        guard.deny(
                            f"this NATS connection's user may not publish to {subject!r} "
                            "(permissions violation)"
                        )
            return
        match = _SUBSCRIBE_VIOLATION.search(text)
        nc = self.nc()
        if match is None or nc is None:
            return
        inbox = _reply_inbox(nc)
        if inbox is None or match.group(1).lower() != (inbox + "*").lower():
            return
        self.inbox_denied = (inbox, nc.stats["reconnects"])
        for guards in list(self.pending.values()):
            for guard in list(guards):
                guard.deny(_inbox_message(inbox))

    def inbox_refused(self, nc: NATS) -> str | None:
        """The refused reply inbox, while the refusal still holds for this connection."""
        denied = self.inbox_denied
        if denied is None:
            return None
        if denied != (_reply_inbox(nc), nc.stats["reconnects"]):
            # A reconnect subscribes again, and a new server may allow it.
            self.inbox_denied = None
            return None
        return denied[0]


class Guard:
    """Context manager around one request: fails it on a permissions violation.

    Use ``with permissions.watch(nc, subject): reply = await nc.request(subject, ...)``;
    a violation for ``subject`` makes the block raise ``RpcError(PERMISSION_DENIED)``.
    """

    __slots__ = ("_message", "_subject", "_task", "_watch")

    def __init__(self, watch: _Watch, subject: str) -> None:
        self._watch = watch
        self._subject = subject
        self._task: asyncio.Task[object] | None = None
        self._message: str | None = None

    def __enter__(self) -> Guard:
        watch = self._watch
        nc = watch.nc()
        if nc is not None and watch.inbox_denied is not None:
            inbox = watch.inbox_refused(nc)
            if inbox is not None:
                raise RpcError(StatusCode.PERMISSION_DENIED, _inbox_message(inbox))
        self._task = asyncio.current_task()
        if self._task is not None:
            guards = watch.pending.get(self._subject)
            if guards is None:
                watch.pending[self._subject] = {self}
            else:
                guards.add(self)
        return self

    def deny(self, message: str) -> None:
        if self._message is not None or self._task is None or self._task.done():
            return
        self._message = message
        # The same way asyncio.timeout() interrupts a wait: cancel, then turn the
        # CancelledError into the real outcome in __exit__.
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        guards = self._watch.pending.get(self._subject)
        if guards is not None:
            guards.discard(self)
            if not guards:
                del self._watch.pending[self._subject]
        if self._message is None or self._task is None:
            return
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+
        remaining = uncancel() if uncancel is not None else 0
        if exc_type is asyncio.CancelledError and remaining == 0:
            raise RpcError(StatusCode.PERMISSION_DENIED, self._message) from None
        # Otherwise the reply won the race (the cancel was absorbed) or someone
        # else cancelled the task too; let that outcome stand.


_watches: weakref.WeakKeyDictionary[NATS, _Watch] = weakref.WeakKeyDictionary()


def watch(nc: NATS, subject: str) -> Guard:
    """A guard for one request to ``subject`` on ``nc``; installs the watch on first use."""
    current = _watches.get(nc)
    if current is None or nc._error_cb is not current.callback:
        # First call on this connection, or connect() set a new error callback.
        current = _Watch(nc)
        _watches[nc] = current
    return Guard(current, subject)


def _reply_inbox(nc: NATS) -> str | None:
    prefix = nc._resp_sub_prefix
    return prefix.decode() if prefix else None


def _inbox_message(inbox: str) -> str:
    return (
        f"this NATS connection's user may not subscribe to its reply inbox {inbox}* "
        '(permissions violation; allow subscribe to "_INBOX.>"); the request may have '
        "been delivered"
    )
