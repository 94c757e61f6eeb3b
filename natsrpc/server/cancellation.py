"""Unary cancellation on the server: cancel notices, and the calls they stop or withdraw.

A unary call has no channel back to the server once its request is sent, so a
caller that gives up (``call.cancel()``, a cancelled task, Ctrl-C in a sync
client) publishes the call's reply subject on the service's cancel subject
(docs/protocol.md §2.4; the caller's half is ``transport.replies``). Every
instance listens, as the caller cannot know which one took the request; the
instance that runs the call cancels its handler, and one that holds it queued
withdraws it, to be answered CANCELLED instead of run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.protocol.subjects import cancel_subject
from natsrpc.service_api.responder import Endpoint
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.transport.wire import subscribe

logger = logging.getLogger("natsrpc.server")

MAX_CALL_ID = 1024
"""Bytes a cancel notice may hold; a reply subject is far shorter."""
CANCELLED_BY_CALLER = "the caller cancelled the call"


class Cancellation:
    """One server's unary calls that a cancel notice can reach: running, or queued."""

    __slots__ = ("_given_up", "_running", "withdrawn")

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}
        """Unary calls being handled, by their reply subject."""
        self._given_up: set[asyncio.Task[Any]] = set()
        self.withdrawn: set[str] = set()
        """Reply subjects of queued unary calls whose callers cancelled them before they ran.

        Empty but for a moment after a cancel notice, so a caller tests it before
        calling ``take_withdrawn``, which spares nearly every call a method call.
        """

    def track(self, call_id: str, task: asyncio.Task[Any]) -> None:
        """``task`` handles the call with reply subject ``call_id`` until ``untrack``."""
        self._running[call_id] = task

    def untrack(self, call_id: str, task: asyncio.Task[Any]) -> None:
        # A foreign client may send several requests with one reply subject.
        if self._running.get(call_id) is task:
            del self._running[call_id]
        if self._given_up:
            self._given_up.discard(task)

    def gave_up(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` was cancelled because its caller gave up."""
        return task in self._given_up

    def cancel(self, call_id: str) -> bool:
        """Cancel the running call ``call_id``, as its caller asked; False if none is running."""
        task = self._running.get(call_id)
        if task is None:
            return False
        self._given_up.add(task)
        task.cancel()
        return True

    def withdraw(self, call_id: str) -> None:
        """The queued call ``call_id`` is to be answered CANCELLED when its turn comes."""
        self.withdrawn.add(call_id)

    def take_withdrawn(self, call_id: str) -> bool:
        """Whether the call ``call_id`` was withdrawn (then it is forgotten)."""
        withdrawn = self.withdrawn
        if call_id in withdrawn:
            withdrawn.discard(call_id)
            return True
        return False


class QueuedCalls(Protocol):
    """What cancel notices need of a method endpoint (``server.endpoint``)."""

    method: MethodSpec[Any, Any]
    endpoint: Endpoint

    def holds(self, reply: str) -> bool: ...


class CancelNotices:
    """Listens on the cancel subjects of one server's unary methods."""

    def __init__(self, cancellation: Cancellation, endpoints: Sequence[QueuedCalls]) -> None:
        self._cancellation = cancellation
        self._unary = [ep for ep in endpoints if ep.method.kind is MethodKind.UNARY]

    async def subscribe(self, nc: NATS) -> list[Subscription]:
        subjects = dict.fromkeys(cancel_subject(ep.endpoint.subject) for ep in self._unary)
        return [await subscribe(nc, subject, self._on_notice) for subject in subjects]

    def _on_notice(self, msg: Msg) -> None:
        if not msg.data or len(msg.data) > MAX_CALL_ID:
            logger.debug("ignored a malformed cancel notice on %s", msg.subject)
            return
        call_id = msg.data.decode("utf-8", "replace")
        if self._cancellation.cancel(call_id):
            return
        # Not running here: it may be queued here, or served by another instance.
        for ep in self._unary:
            if ep.holds(call_id):
                self._cancellation.withdraw(call_id)
                return
