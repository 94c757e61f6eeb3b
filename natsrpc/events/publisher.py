"""Publishing events: the base class of every generated ``<Service>Publisher``."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.nuid import NUID

from natsrpc.client.interceptors import (
    PROCESS_INTERCEPTORS,
    CallDetails,
    ClientInterceptor,
    unary_invoker,
)
from natsrpc.events.jetstream import PublishAck, store
from natsrpc.events.spec import EventServiceSpec, EventSpec
from natsrpc.events.subjects import EXPECTED_STREAM, MSG_ID, event_method, event_subject
from natsrpc.metadata import MetadataLike, metadata_headers, user_metadata
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.connection import CONNECTION_ERRORS, connection_unusable
from natsrpc.transport.header_blocks import header_block, header_template
from natsrpc.transport.replies import router
from natsrpc.transport.wire import publish

DEFAULT_TIMEOUT = 10.0
"""Seconds a JetStream publish may take in all, retries included."""
DEFAULT_ATTEMPT_TIMEOUT = 2.0
"""Seconds one attempt waits for the stream's acknowledgement before it is sent again."""
_PLAIN_ID = re.compile(r"[!-~]+")
"""An id that goes into a header line as it is: visible ASCII, no spaces or line breaks."""


class Publisher:
    """Publishes the events of one event set; generated subclasses add a method per event.

    On a JetStream event set a publish returns once the stream has stored the
    event. Every publish carries ``Nats-Msg-Id`` (the event's id field, or a
    fresh id), and a publish whose acknowledgement is lost is sent again with
    the same id within ``timeout``, so the stream stores it once.
    """

    _natsrpc_service: ClassVar[EventServiceSpec]

    def __init__(
        self,
        nc: NATS,
        *,
        subject_prefix: str | None = None,
        interceptors: Sequence[ClientInterceptor] = (),
        timeout: float | None = None,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
    ) -> None:
        spec = getattr(type(self), "_natsrpc_service", None)
        if not isinstance(spec, EventServiceSpec):
            raise TypeError(f"{type(self).__name__} is not a generated natsrpc event publisher")
        if attempt_timeout <= 0:
            raise ValueError("attempt_timeout must be positive")
        self._nc = nc
        self._spec = spec
        self._prefix = subject_prefix or ""
        self._timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self._attempt_timeout = attempt_timeout
        self._interceptors = (*PROCESS_INTERCEPTORS, *interceptors)
        # A random prefix and a counter: unique ids for a fraction of a NUID's cost each.
        self._id_prefix = NUID().next().decode()
        self._id_count = itertools.count()
        self._plain_block = b""
        if spec.stream is not None:
            # The block the common publish sends (no metadata): only the id changes.
            self._plain_block = header_template({EXPECTED_STREAM: spec.stream.name}, MSG_ID)

    async def _publish(
        self,
        event_spec: EventSpec[Any],
        event: Message,
        metadata: MetadataLike | None,
        timeout: float | None,
    ) -> PublishAck | None:
        """Publish ``event``; the generated methods call this."""
        if not isinstance(event, event_spec.event_type):
            raise TypeError(
                f"{event_spec.path} takes {event_spec.event_type.__name__}, "
                f"not {type(event).__name__}"
            )
        headers = metadata_headers(metadata) if metadata else {}
        seconds = self._timeout if timeout is None else timeout
        if not self._interceptors:
            return await self._send(event_spec, event, headers, seconds)
        acks: list[PublishAck | None] = []

        async def innermost(request: Message, call_details: CallDetails) -> Message:
            acks.append(
                await self._send(
                    event_spec,
                    request,
                    metadata_headers(call_details.metadata),
                    call_details.timeout,
                )
            )
            return Empty()

        details = CallDetails(event_method(event_spec), user_metadata(headers), seconds)
        await unary_invoker(self._interceptors, innermost)(event, details)
        if not acks and self._spec.stream is not None:
            raise RpcError(StatusCode.INTERNAL, f"{event_spec.path}: an interceptor sent nothing")
        return acks[-1] if acks else None

    async def _publish_stored(
        self,
        event_spec: EventSpec[Any],
        event: Message,
        metadata: MetadataLike | None,
        timeout: float | None,
    ) -> PublishAck:
        """Publish ``event`` to a JetStream event set: the stream's acknowledgement."""
        if self._spec.stream is None:
            raise TypeError(f"{self._spec.full_name} has no stream; its events are not stored")
        ack = await self._publish(event_spec, event, metadata, timeout)
        assert ack is not None
        return ack

    async def _send(
        self, event_spec: EventSpec[Any], event: Message, metadata: dict[str, str], timeout: float
    ) -> PublishAck | None:
        subject = event_subject(event_spec, event, self._prefix)
        payload = event.SerializeToString()
        stream = self._spec.stream
        try:
            if stream is None:
                block = header_block(metadata) if metadata else None
                await publish(self._nc, subject, payload, "", block)
                return None
            message_id = self._message_id(event_spec, event)
            if not metadata and _PLAIN_ID.fullmatch(message_id):
                block = self._plain_block % message_id.encode()
            else:
                headers = dict(metadata)
                headers[MSG_ID] = message_id
                headers[EXPECTED_STREAM] = stream.name
                block = header_block(headers)
            # One block for every attempt: the same Nats-Msg-Id each time.
            return await store(
                self._request, subject, payload, block, timeout, self._attempt_timeout
            )
        except CONNECTION_ERRORS as error:
            raise connection_unusable(error) from None

    def _message_id(self, event_spec: EventSpec[Any], event: Message) -> str:
        if event_spec.id_field:
            value = getattr(event, event_spec.id_field)
            if value not in ("", 0):
                return str(value)
        return f"{self._id_prefix}{next(self._id_count):x}"

    async def _request(self, subject: str, payload: bytes, headers: bytes, timeout: float) -> bytes:
        """One attempt: the stream's JSON answer. Tests replace it to lose an acknowledgement.

        ``headers`` is a ready header block (``transport.header_blocks.header_block``).
        """
        nc = self._nc
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        reply = await router(nc).request(nc, subject, payload, headers, timeout, future)
        return reply.data
