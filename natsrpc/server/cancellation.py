"""Cancel notices: a unary caller that gives up tells the instance serving its call.

A unary call has no channel back to the server once its request is sent, so a
caller that gives up (``call.cancel()``, a cancelled task, Ctrl-C in a sync
client) publishes the call's reply subject on the service's cancel subject
(docs/protocol.md §2.4). Every instance listens, as the caller cannot know
which one took the request; the instance that has it cancels the handler, or
drops the call if it is still queued.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natsrpc.protocol.subjects import cancel_subject
from natsrpc.server.endpoint import MethodEndpoint
from natsrpc.server.serving import Serving
from natsrpc.spec import MethodKind
from natsrpc.transport.wire import subscribe

logger = logging.getLogger("natsrpc.server")

MAX_CALL_ID = 1024
"""Bytes a cancel notice may hold; a reply subject is far shorter."""


class CancelNotices:
    """Listens on the cancel subjects of one server's unary methods."""

    def __init__(self, serving: Serving, endpoints: Sequence[MethodEndpoint]) -> None:
        self._serving = serving
        self._unary = [ep for ep in endpoints if ep.method.kind is MethodKind.UNARY]

    async def subscribe(self, nc: NATS) -> list[Subscription]:
        subjects = dict.fromkeys(cancel_subject(ep.endpoint.subject) for ep in self._unary)
        return [await subscribe(nc, subject, self._on_notice) for subject in subjects]

    def _on_notice(self, msg: Msg) -> None:
        if not msg.data or len(msg.data) > MAX_CALL_ID:
            logger.debug("ignored a malformed cancel notice on %s", msg.subject)
            return
        call_id = msg.data.decode("utf-8", "replace")
        if self._serving.outcomes.cancel(call_id):
            return
        # Not running here: it may be queued here, or served by another instance.
        for ep in self._unary:
            if ep.holds(call_id):
                self._serving.withdrawn.add(call_id)
                return
