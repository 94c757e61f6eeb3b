"""Dead letters: events a consumer group gave up on, kept with why, listed and replayed.

A dead letter is the original event (payload and every header) stored in the
stream ``<STREAM>_DLQ`` on the subject ``$DLQ.<STREAM>.<consumer>``, with
``Rpc-Dead-*`` headers recording the failure. The original's own ``Nats-*``
headers are kept as ``Rpc-Dead-Nats-*`` so that JetStream does not act on them a
second time. docs/protocol.md §11.4 lists the headers.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js import errors as js_errors

from natsrpc.events.jetstream import PublishAck, store
from natsrpc.events.provision import dead_letter_stream, dead_letter_subject
from natsrpc.events.spec import EventServiceSpec
from natsrpc.events.subjects import MSG_ID
from natsrpc.metadata import decode_binary
from natsrpc.status import RpcError, StatusCode, serialized_status
from natsrpc.transport.natspy.jetstream import connection_of

logger = logging.getLogger("natsrpc.events")

SUBJECT = "Rpc-Dead-Subject"
STREAM = "Rpc-Dead-Stream"
SEQUENCE = "Rpc-Dead-Sequence"
CONSUMER = "Rpc-Dead-Consumer"
DELIVERIES = "Rpc-Dead-Deliveries"
CODE = "Rpc-Dead-Code"
MESSAGE = "Rpc-Dead-Message"
REASON = "Rpc-Dead-Reason"
DETAILS = "Rpc-Dead-Details"
"""The failure's details: a serialized google.rpc.Status, base64; only when it had some."""
TIME = "Rpc-Dead-Time"
REPLAY_FOR = "Rpc-Replay-Consumer"
"""On a replayed event: the only consumer group that handles it; other groups ack it unseen."""
_KEPT_PREFIX = "Rpc-Dead-"
_NATS_PREFIX = "Nats-"

STORE_TIMEOUT = 10.0


class Reason:
    """Why an event was dead-lettered (the ``Rpc-Dead-Reason`` values)."""

    REJECTED = "rejected"
    """The handler raised ``natsrpc.Reject``."""
    UNDECODABLE = "undecodable"
    """The payload is not the event's message type."""
    MAX_DELIVERIES = "max-deliveries"
    """The handler failed on every one of the consumer's ``max_deliver`` attempts."""
    ABANDONED = "abandoned"
    """Every attempt ended without an answer (the consumer crashed or hung each time)."""


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter, as ``DeadLetters.list`` returns it."""

    sequence: int
    """Its sequence in the dead-letter stream."""
    subject: str
    """The subject the event was published on."""
    data: bytes
    headers: Mapping[str, str]
    """The event's own headers, as published."""
    stream: str
    stream_sequence: int
    consumer: str
    deliveries: int
    code: StatusCode
    message: str
    reason: str
    time: datetime | None
    details: tuple[AnyMessage, ...] = ()
    """The failure's details (``natsrpc.Reject(details=...)``), as ``Any`` messages."""


def _one_line(text: str) -> str:
    return " ".join(text.encode("ascii", "backslashreplace").decode().split())


async def dead_letter(
    nc: NATS,
    *,
    subject: str,
    data: bytes,
    headers: Mapping[str, str] | None,
    stream: str,
    stream_sequence: int,
    consumer: str,
    deliveries: int,
    code: StatusCode,
    message: str,
    reason: str,
    timeout: float = STORE_TIMEOUT,
    details: Sequence[AnyMessage] = (),
) -> PublishAck:
    """Store one failed event in its stream's dead-letter stream; returns once it is stored.

    The store is idempotent per (stream, sequence, consumer): the consumer and
    the max-deliveries advisory may both report one event, and it is kept once.
    """
    kept: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if name.lower().startswith(_NATS_PREFIX.lower()):
            kept[_KEPT_PREFIX + name] = value
        else:
            kept[name] = value
    kept.update(
        {
            SUBJECT: subject,
            STREAM: stream,
            SEQUENCE: str(stream_sequence),
            CONSUMER: consumer,
            DELIVERIES: str(deliveries),
            CODE: str(int(code)),
            MESSAGE: _one_line(message) or code.name,
            REASON: reason,
            TIME: datetime.now(timezone.utc).isoformat(),
            MSG_ID: f"{stream}:{stream_sequence}:{consumer}",
        }
    )
    if details:
        _keep_details(kept, RpcError(code, message, details=details), len(data), nc.max_payload)

    async def request(subj: str, payload: bytes, hdrs: dict[str, str], wait: float) -> bytes:
        return (await nc.request(subj, payload, timeout=wait, headers=hdrs)).data

    return await store(
        request, dead_letter_subject(stream, consumer), data, kept, timeout, min(timeout, 2.0)
    )


def _keep_details(
    headers: dict[str, str], failure: RpcError, data_size: int, max_payload: int
) -> None:
    encoded = base64.b64encode(serialized_status(failure)).decode("ascii")
    # Headers travel as "name: value\r\n" lines inside the same max_payload as the event.
    size = data_size + len(encoded) + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 40
    if size > max_payload:
        logger.warning(
            "dead letter stored without its error details: they would exceed max_payload %d",
            max_payload,
        )
        return
    headers[DETAILS] = encoded


def _details(value: str | None) -> tuple[AnyMessage, ...]:
    if not value:
        return ()
    serialized = decode_binary(value)
    if serialized is None:
        return ()
    try:
        return tuple(status_pb2.Status.FromString(serialized).details)
    except DecodeError:
        return ()


def _letter(sequence: int, data: bytes | None, headers: Mapping[str, str], time: Any) -> DeadLetter:
    original: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith(_KEPT_PREFIX + _NATS_PREFIX):
            original[name[len(_KEPT_PREFIX) :]] = value
        elif not name.startswith(_KEPT_PREFIX) and name != MSG_ID:
            original[name] = value
    try:
        code = StatusCode(int(headers.get(CODE, "2")))
    except ValueError:
        code = StatusCode.UNKNOWN
    return DeadLetter(
        sequence=sequence,
        subject=headers.get(SUBJECT, ""),
        data=data or b"",
        headers=original,
        stream=headers.get(STREAM, ""),
        stream_sequence=int(headers.get(SEQUENCE, "0")),
        consumer=headers.get(CONSUMER, ""),
        deliveries=int(headers.get(DELIVERIES, "0")),
        code=code,
        message=headers.get(MESSAGE, ""),
        reason=headers.get(REASON, ""),
        time=time,
        details=_details(headers.get(DETAILS)),
    )


class DeadLetters:
    """The dead letters of one stream: list them, replay them, delete them.

    ``stream`` is a stream name, an event set spec, or a generated event class.
    """

    def __init__(
        self, js_or_nc: JetStreamContext | NATS, stream: str | EventServiceSpec | type[Any]
    ) -> None:
        self._js = js_or_nc if isinstance(js_or_nc, JetStreamContext) else js_or_nc.jetstream()
        self._nc = None if isinstance(js_or_nc, JetStreamContext) else js_or_nc
        if not isinstance(stream, str):
            spec = stream if isinstance(stream, EventServiceSpec) else stream._natsrpc_service
            if spec.stream is None:
                raise ValueError(f"{spec.full_name} travels over core NATS and has no dead letters")
            stream = spec.stream.name
        self.stream = stream
        self.dead_letter_stream = dead_letter_stream(stream)

    async def list(self, consumer: str | None = None, limit: int | None = None) -> list[DeadLetter]:
        """The dead letters (of one consumer group, or all), oldest first."""
        subject = dead_letter_subject(self.stream, consumer or "*")
        letters: list[DeadLetter] = []
        sequence = 1
        while limit is None or len(letters) < limit:
            try:
                raw = await self._js.get_msg(
                    self.dead_letter_stream, seq=sequence, subject=subject, next=True
                )
            except js_errors.NotFoundError:
                break
            assert raw.seq is not None
            letters.append(_letter(raw.seq, raw.data, raw.headers or {}, raw.time))
            sequence = raw.seq + 1
        return letters

    async def replay(self, letter: DeadLetter, timeout: float = STORE_TIMEOUT) -> PublishAck:
        """Publish the event again to its original subject, for its consumer group only,
        then delete the dead letter."""
        headers = dict(letter.headers)
        # A fresh id: the original may still be inside the stream's duplicate window.
        headers[MSG_ID] = f"replay:{self.dead_letter_stream}:{letter.sequence}"
        headers[REPLAY_FOR] = letter.consumer
        nc = self._nc or connection_of(self._js)

        async def request(subj: str, payload: bytes, hdrs: dict[str, str], wait: float) -> bytes:
            return (await nc.request(subj, payload, timeout=wait, headers=hdrs)).data

        ack = await store(request, letter.subject, letter.data, headers, timeout, 2.0)
        await self.delete(letter)
        return ack

    async def replay_all(self, consumer: str | None = None) -> int:
        """Replay every dead letter (of one consumer group, or all); returns how many."""
        letters = await self.list(consumer)
        for letter in letters:
            await self.replay(letter)
        return len(letters)

    async def delete(self, letter: DeadLetter) -> None:
        """Forget a dead letter for good."""
        with contextlib.suppress(js_errors.NotFoundError):
            await self._js.delete_msg(self.dead_letter_stream, letter.sequence)
