"""The host of every call a server serves: its connection, limits, supervisor and replies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from natsrpc.protocol.headers import error_reply
from natsrpc.server.outcome import Supervisor
from natsrpc.status import RpcError
from natsrpc.transport.header_blocks import header_block
from natsrpc.transport.wire import prepare, start_publish

logger = logging.getLogger("natsrpc.server")


class CallHost:
    """One server's connection, limits and supervisor, and how its replies are sent.

    Every call the server serves is handed the same one.
    """

    __slots__ = (
        "heartbeat",
        "max_message_bytes",
        "more_replies",
        "nc",
        "stream_window",
        "supervisor",
    )

    def __init__(
        self, nc: NATS, stream_window: int, heartbeat: float, max_message_bytes: int | None
    ) -> None:
        self.nc = nc
        prepare(nc)
        self.supervisor = Supervisor()
        self.stream_window = stream_window
        self.heartbeat = heartbeat
        self.max_message_bytes = max_message_bytes
        self.more_replies = False
        """A hint from admission: other requests are ready or in flight, so replies can wait to
        leave together."""

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None) -> None:
        wait = self.send(subject, payload, headers)
        if wait is not None:
            await wait

    def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None
    ) -> Coroutine[Any, Any, None] | None:
        """Reply to a request's reply ``subject``; the wait, if the connection makes it wait.

        No coroutine runs unless there is something to wait for.
        """
        try:
            block = None if headers is None else header_block(headers)
            wait = start_publish(
                self.nc, subject, payload, "", block, more=self.more_replies, received=True
            )
        except Exception:
            _failed(subject)
            return None
        return None if wait is None else _finish(wait, subject)

    async def reply_error(
        self,
        msg: Msg,
        error: RpcError,
        trailers: Mapping[str, str] | None,
        json: bool = False,
        endpoint: str = "",
    ) -> None:
        """Fail the call ``msg`` opened with ``error``, as an ADR-32 error reply.

        ``json`` is the call's encoding, for the error's details; ``endpoint`` names
        the method in the one log line of details too large to send.
        """
        if msg.reply:
            headers, payload = error_reply(error, trailers, json, self.nc.max_payload, endpoint)
            await self.publish(msg.reply, payload, headers)


async def _finish(wait: Awaitable[Any], subject: str) -> None:
    try:
        await wait
    except Exception:
        _failed(subject)


def _failed(subject: str) -> None:
    # The caller will time out; the service itself must go on host.
    logger.exception("could not send a reply to %s", subject)
