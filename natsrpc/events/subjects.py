"""Event subjects filled from event fields, and each event seen as a unary method.

docs/protocol.md §11 is the normative description of event subjects and headers.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message

from natsrpc.events.spec import EventServiceSpec, EventSpec
from natsrpc.spec import MethodKind, MethodSpec, ServiceSpec
from natsrpc.status import RpcError, StatusCode

MSG_ID = "Nats-Msg-Id"
"""JetStream's deduplication id: a repeated id within the duplicate window is stored once."""
EXPECTED_STREAM = "Nats-Expected-Stream"
"""Makes JetStream refuse a publish that would land in another stream than the declared one."""

_FORBIDDEN_IN_TOKEN = frozenset(".*>")


def token_value(event: Message, field_name: str) -> str:
    """A scalar field's value as a subject token (or an ordering key)."""
    value = getattr(event, field_name)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_token(event_spec: EventSpec[Any], field_name: str, token: str) -> None:
    """Refuse a token that would change the subject's shape, before anything is sent."""
    if not token or any(c in _FORBIDDEN_IN_TOKEN or c.isspace() for c in token):
        raise RpcError(
            StatusCode.INVALID_ARGUMENT,
            f"{event_spec.path}: field {field_name!r} = {token!r} cannot be a subject token "
            "(it must be non-empty, without '.', '*', '>' or whitespace)",
        )


def event_subject(event_spec: EventSpec[Any], event: Message, prefix: str = "") -> str:
    """The subject ``event`` is published on: the template with each ``{field}`` filled."""
    subject = event_spec.subject
    for field_name in event_spec.subject_fields:
        token = token_value(event, field_name)
        check_token(event_spec, field_name, token)
        subject = subject.replace("{" + field_name + "}", token, 1)
    return prefix + subject


def stream_subjects(spec: EventServiceSpec, prefix: str = "") -> list[str]:
    """The subjects a stream must capture to store every event of ``spec``."""
    subjects: list[str] = []
    for event in spec.events:
        subject = prefix + event.filter_subject
        if subject not in subjects:
            subjects.append(subject)
    return subjects


@functools.cache
def event_method(event_spec: EventSpec[Any]) -> MethodSpec[Any, Any]:
    """The event as a unary method with an ``Empty`` response, for interceptors and tracing.

    Server and client interceptors then see a published event as a unary call
    with the event as its request, so the ones written for RPC (auth, logging,
    OpenTelemetry) work for events unchanged.
    """
    method: MethodSpec[Any, Any] = MethodSpec(
        name=event_spec.name,
        path=event_spec.path,
        subject=event_spec.subject,
        attribute=event_spec.attribute,
        kind=MethodKind.UNARY,
        request_type=event_spec.event_type,
        response_type=Empty,
        metadata=event_spec.metadata,
        description=event_spec.description,
    )
    _EVENT_METHODS.add(method)
    return method


_EVENT_METHODS: set[MethodSpec[Any, Any]] = set()


def is_event_method(method: MethodSpec[Any, Any]) -> bool:
    """Whether an interceptor's ``method`` is an event (``event_method``), not an RPC method."""
    return method in _EVENT_METHODS


@functools.cache
def reflected_service(spec: EventServiceSpec) -> ServiceSpec:
    """The event set as a ``ServiceSpec`` for schema reflection.

    Its subject group is the set's full name, so reflection about it is served on
    ``<full name>.$reflection`` (docs/protocol.md §10), where tools look for it.
    """
    return ServiceSpec(
        full_name=spec.full_name,
        methods=tuple(
            dataclasses.replace(event_method(event), subject=f"{spec.full_name}.{event.name}")
            for event in spec.events
        ),
        description=spec.description,
        version=spec.version,
        micro_name=spec.micro_name,
    )
