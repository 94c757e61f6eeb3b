"""Storing a message in a JetStream stream until it is acknowledged; shared by the
publisher and the dead-letter path."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from nats import errors as nats_errors

from natsrpc.status import RpcError, StatusCode

Headers = TypeVar("Headers")
"""Whatever form of headers the attempt takes (a dict, a ready header block)."""

_RETRY_PAUSE = 0.05
# JetStream API error codes that a retry can outlast (no stream leader yet, a
# stream being restored after a restart); anything else fails at once.
_TRANSIENT_JS_ERRORS = frozenset({503, 10008, 10118})


@dataclass(frozen=True)
class PublishAck:
    """The stream's acknowledgement of one stored event."""

    stream: str
    sequence: int
    duplicate: bool
    """True when the stream already held a message with this ``Nats-Msg-Id`` (within its
    duplicate window), so this publish stored nothing new."""


async def store(
    request: Callable[[str, bytes, Headers, float], Awaitable[bytes]],
    subject: str,
    payload: bytes,
    headers: Headers,
    timeout: float,
    attempt_timeout: float,
) -> PublishAck:
    """Send until the stream acknowledges, within ``timeout`` seconds.

    ``request`` makes one attempt: subject, payload, headers and timeout in,
    the stream's JSON answer out. Every attempt carries the same headers, so
    the same ``Nats-Msg-Id``: an attempt whose acknowledgement was lost is
    stored once.
    """
    deadline = time.monotonic() + timeout
    last = "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RpcError(
                StatusCode.DEADLINE_EXCEEDED,
                f"no acknowledgement from a stream for {subject} within {timeout} s ({last})",
            )
        try:
            answer = await request(subject, payload, headers, min(remaining, attempt_timeout))
        except nats_errors.NoRespondersError:
            last = "no stream captures the subject, or JetStream is unavailable"
        except nats_errors.TimeoutError:
            last = "acknowledgement lost or late"
        except RpcError as error:
            if error.code is not StatusCode.UNAVAILABLE:
                raise
            # The connection dropped while waiting: the next attempt goes out once
            # nats-py has reconnected, and the id keeps it from being stored twice.
            last = "connection lost while waiting for the acknowledgement"
        else:
            ack, last = _parse_ack(subject, answer)
            if ack is not None:
                return ack
        await asyncio.sleep(min(_RETRY_PAUSE, max(0.0, deadline - time.monotonic())))


def _parse_ack(subject: str, data: bytes) -> tuple[PublishAck | None, str]:
    """The acknowledgement in ``data``, or None and why when a retry may still succeed."""
    try:
        answer = json.loads(data)
    except ValueError:
        raise RpcError(
            StatusCode.INTERNAL, f"publish to {subject}: not a JetStream answer"
        ) from None
    error = answer.get("error")
    if error is None:
        return (
            PublishAck(
                stream=answer["stream"],
                sequence=int(answer["seq"]),
                duplicate=bool(answer.get("duplicate", False)),
            ),
            "",
        )
    description = f"{error.get('description', 'error')} (JetStream code {error.get('err_code')})"
    if error.get("code") in _TRANSIENT_JS_ERRORS or error.get("err_code") in _TRANSIENT_JS_ERRORS:
        return None, description
    raise RpcError(StatusCode.FAILED_PRECONDITION, f"publish to {subject}: {description}")
