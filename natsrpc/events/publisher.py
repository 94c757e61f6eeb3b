"""Publishing events: the base class of every generated ``<Service>Publisher``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.nuid import NUID

from natsrpc.client.interceptors import CallDetails, ClientInterceptor, unary_invoker
from natsrpc.events.jetstream import PublishAck, store
from natsrpc.events.spec import EventServiceSpec, EventSpec
from natsrpc.events.subjects import EXPECTED_STREAM, MSG_ID, event_method, event_subject
from natsrpc.metadata import MetadataLike, metadata_headers
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport.connection import CONNECTION_ERRORS

DEFAULT_TIMEOUT = 10.0
"""Seconds a JetStream publish may take in all, retries included."""
DEFAULT_ATTEMPT_TIMEOUT = 2.0
"""Seconds one attempt waits for the stream's acknowledgement before it is sent again."""


class Publisher:
    """Publishes the events of one event set; generated subclasses add a method per event.

    On a JetStream event set a publish returns once the stream has stored the
    event. Every publish carries ``Nats-Msg-Id`` (the event's id field, or a
    fresh id), and a publish whose acknowledgement is lost is sent again with
    the same id within ``timeout``, so the stream stores it once.
    """

    __natsrpc_service__: ClassVar[EventServiceSpec]

    def __init__(
        self,
        nc: NATS,
        *,
        subject_prefix: str | None = None,
        interceptors: Sequence[ClientInterceptor] = (),
        timeout: float | None = None,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
    ) -> None:
        spec = getattr(type(self), "__natsrpc_service__", None)
        if not isinstance(spec, EventServiceSpec):
            raise TypeError(f"{type(self).__name__} is not a generated natsrpc event publisher")
        if attempt_timeout <= 0:
            raise ValueError("attempt_timeout must be positive")
        self._nc = nc
        self._spec = spec
        self._prefix = subject_prefix or ""
        self._timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self._attempt_timeout = attempt_timeout
        self._interceptors = tuple(interceptors)
        self._nuid = NUID()

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
        details = CallDetails(
            method=event_method(event_spec),
            metadata=metadata_headers(metadata) if metadata else {},
            timeout=self._timeout if timeout is None else timeout,
        )
        if not self._interceptors:
            return await self._send(event_spec, event, details)
        acks: list[PublishAck | None] = []

        async def innermost(request: Message, call_details: CallDetails) -> Message:
            acks.append(await self._send(event_spec, request, call_details))
            return Empty()

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
        self, event_spec: EventSpec[Any], event: Message, details: CallDetails
    ) -> PublishAck | None:
        subject = event_subject(event_spec, event, self._prefix)
        payload = event.SerializeToString()
        headers = dict(details.metadata)
        stream = self._spec.stream
        try:
            if stream is None:
                await self._nc.publish(subject, payload, headers=headers or None)
                return None
            headers[MSG_ID] = self._message_id(event_spec, event)
            headers[EXPECTED_STREAM] = stream.name
            return await store(
                self._request,
                subject,
                payload,
                headers,
                details.timeout,
                self._attempt_timeout,
            )
        except CONNECTION_ERRORS as error:
            raise RpcError(StatusCode.UNAVAILABLE, f"NATS connection unusable: {error}") from None

    def _message_id(self, event_spec: EventSpec[Any], event: Message) -> str:
        if event_spec.id_field:
            value = getattr(event, event_spec.id_field)
            if value not in ("", 0):
                return str(value)
        return self._nuid.next().decode()

    async def _request(
        self, subject: str, payload: bytes, headers: dict[str, str], timeout: float
    ) -> bytes:
        """One attempt: the stream's JSON answer. Tests replace it to lose an acknowledgement."""
        reply = await self._nc.request(subject, payload, timeout=timeout, headers=headers)
        return reply.data
