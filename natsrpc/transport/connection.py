"""What natsrpc needs from a nats-py connection beyond ``publish`` and ``subscribe``.

It holds the work-arounds for nats-py behaviour the server depends on. nats-py's
``flush()`` writes its PING straight to the socket while SUB, UNSUB and PUB
commands still wait in the client's pending buffer, so the PONG does not prove
that the server has seen them (nats-py 2.3 to at least 2.16). Without the fix
below, a service could report itself started before its subscriptions are
live, and a draining subscription could lose requests delivered after its UNSUB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.natspy.outbound import unsubscribe_now, write_queued

CONNECTION_ERRORS = (
    nats_errors.ConnectionClosedError,
    nats_errors.ConnectionDrainingError,
    nats_errors.OutboundBufferLimitError,
)
"""What nats-py raises when the connection cannot take a publish at all."""


def connection_unusable(error: Exception) -> RpcError:
    """The status of a call whose connection cannot send (closed, draining, buffer full)."""
    return RpcError(StatusCode.UNAVAILABLE, f"NATS connection unusable: {error}")


def is_no_responders(data: bytes, headers: Mapping[str, str] | None) -> bool:
    """Whether a message is nats-server's "no responders" status: nobody serves the subject."""
    return not data and headers is not None and headers.get("Status") == "503"


async def flush(nc: NATS) -> None:
    """One round trip to the server after every command queued so far."""
    queued = write_queued(nc)
    if queued is not None:
        await queued
    await nc.flush()


async def drain(nc: NATS, subscriptions: Sequence[Subscription]) -> None:
    """Unsubscribe, then handle every message the server delivered before it saw that."""
    unsubscribed = [await unsubscribe_now(nc, subscription) for subscription in subscriptions]
    if any(unsubscribed):
        await flush(nc)
    # drain() sends UNSUB again, which the server ignores, then waits until the
    # subscription's callback has taken every message already received.
    await asyncio.gather(*(subscription.drain() for subscription in subscriptions))
