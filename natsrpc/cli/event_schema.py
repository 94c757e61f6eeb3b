"""Event sets read from a descriptor pool, and received messages decoded to JSON.

The pool comes from ``--proto``/``--protoset`` or reflection (``cli/schema``).
Its services marked ``(natsrpc.events)`` become the same ``EventServiceSpec``
objects generated code declares, so subjects and streams are computed by the
events runtime's own rules, not a copy of them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorProto

from natsrpc import codec, options_pb2
from natsrpc.cli import schema
from natsrpc.cli.output import CliError
from natsrpc.events.spec import EventServiceSpec, EventSpec, StreamSpec
from natsrpc.protocol.headers import CONTENT_TYPE
from natsrpc.reflection.client import build_pool
from natsrpc.status import RpcError


@dataclass(frozen=True)
class KnownEvent:
    """One event of a set, with the subject filter it arrives on (prefix included)."""

    event_set: EventServiceSpec
    event: EventSpec[Any]
    filter_subject: str

    @property
    def name(self) -> str:
        """``pkg.Set/Event``, as ``natsrpc sub`` accepts it."""
        return self.event.path.lstrip("/")


def event_sets(files: Sequence[FileDescriptorProto]) -> list[EventServiceSpec]:
    """Every event set declared in ``files`` (a complete set: every import included)."""
    try:
        pool = build_pool(files)
    except (ValueError, TypeError) as error:
        raise CliError(f"the schema files do not form a complete set: {error}") from None
    found = []
    for file in files:
        for service in pool.FindFileByName(file.name).services_by_name.values():
            spec = event_set(service)
            if spec is not None:
                found.append(spec)
    return found


def event_set(service: ServiceDescriptor) -> EventServiceSpec | None:
    """The event set a service declares, or None for an RPC service."""
    options = schema.natsrpc_options(service, options_pb2.events)
    if options is None:
        return None
    stream = StreamSpec(name=options.stream) if options.HasField("stream") else None
    group = schema.subject_group(service)
    events = tuple(_event(method, group) for method in service.methods)
    service_options = schema.natsrpc_options(service, options_pb2.service)
    return EventServiceSpec(
        full_name=service.full_name,
        events=events,
        stream=stream,
        # The ADR-32 name its handlers are discovered as, as generated code declares it.
        micro_name=str(getattr(service_options, "name", "")),
    )


def _event(method: MethodDescriptor, group: str) -> EventSpec[Any]:
    options = schema.natsrpc_options(method, options_pb2.event)
    subject = options.subject if options is not None and options.HasField("subject") else ""
    return EventSpec(
        name=method.name,
        path=f"/{method.containing_service.full_name}/{method.name}",
        subject=subject or f"{group}.{method.name}",
        attribute=method.name,
        event_type=message_factory.GetMessageClass(method.input_type),
    )


def known_events(sets: Sequence[EventServiceSpec], prefix: str) -> list[KnownEvent]:
    return [KnownEvent(s, e, prefix + e.filter_subject) for s in sets for e in s.events]


def select(known: Sequence[KnownEvent], name: str) -> list[KnownEvent]:
    """The events ``name`` (``pkg.Set``, ``pkg.Set/Event`` or ``pkg.Set.Event``) names."""
    name = name.lstrip("/")
    whole_set = [k for k in known if k.event_set.full_name == name]
    if whole_set:
        return whole_set
    set_name, slash, event_name = name.partition("/")
    if not slash:
        set_name, _, event_name = name.rpartition(".")
    return [k for k in known if k.event_set.full_name == set_name and k.event.name == event_name]


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` is one NATS delivers to a subscription on ``pattern``."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(wanted) == len(tokens)


def overlaps(filter_subject: str, pattern: str) -> bool:
    """Whether some subject matches both (used to keep the events a raw SUBJECT can carry)."""
    left, right = filter_subject.split("."), pattern.split(".")
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if ">" in (a, b):
            return True
        if a != b and "*" not in (a, b):
            return False
        if index == min(len(left), len(right)) - 1:
            return len(left) == len(right)
    return False


def event_for(known: Sequence[KnownEvent], subject: str) -> KnownEvent | None:
    for candidate in known:
        if subject_matches(candidate.filter_subject, subject):
            return candidate
    return None


@dataclass(frozen=True)
class Decoded:
    """A payload as JSON: ``event`` when it parsed, else ``data`` (base64) and ``problem``."""

    event: Any = None
    type: str | None = None
    data: str | None = None
    problem: str | None = None


def decode(known: KnownEvent | None, data: bytes, headers: Mapping[str, str]) -> Decoded:
    """The payload decoded with its event's type; never raises."""
    raw = base64.b64encode(data).decode()
    if known is None:
        return Decoded(data=raw, problem="no known event has this subject")
    message_type = known.event.event_type
    full_name = message_type.DESCRIPTOR.full_name
    try:
        message = codec.decode(message_type, data, codec.is_json(headers.get(CONTENT_TYPE)))
    except RpcError as error:
        return Decoded(data=raw, type=full_name, problem=error.message)
    document = json_format.MessageToDict(message, descriptor_pool=message.DESCRIPTOR.file.pool)
    return Decoded(event=document, type=full_name)


def as_json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=False)
