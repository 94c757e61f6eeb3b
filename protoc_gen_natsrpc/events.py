"""Stage 1 for services marked ``(natsrpc.events)``: every method is an event; check and model them.

An event method takes the event message and returns ``google.protobuf.Empty``.
Its subject template may take tokens from the event's scalar fields, which is
checked here against the message so that a bad declaration fails at generation
time rather than on the first publish.
"""

from __future__ import annotations

import re
from typing import Protocol

from google.protobuf import descriptor_pb2

from natsrpc.contract import method_subject, subject_group

from .comments import Comments, one_line
from .errors import GenerationError
from .models import Event, EventSet
from .naming import NameScope, member_name, upper_snake_case
from .proto_options import (
    EVENT_OPTION,
    EVENTS_OPTION,
    METHOD_OPTION,
    SERVICE_OPTION,
    EventOptions,
    EventsOptions,
    OptionError,
    check_subject,
    has_method_options,
    read_event_options,
    read_events_options,
    read_service_options,
)

_EMPTY = ".google.protobuf.Empty"
_PLACEHOLDER = re.compile(r"\{(?P<field>[A-Za-z_][A-Za-z0-9_]*)\}")

_Type = descriptor_pb2.FieldDescriptorProto
_INTEGER_TYPES = frozenset(
    {
        _Type.TYPE_INT32,
        _Type.TYPE_INT64,
        _Type.TYPE_UINT32,
        _Type.TYPE_UINT64,
        _Type.TYPE_SINT32,
        _Type.TYPE_SINT64,
        _Type.TYPE_FIXED32,
        _Type.TYPE_FIXED64,
        _Type.TYPE_SFIXED32,
        _Type.TYPE_SFIXED64,
    }
)
_ID_TYPES = _INTEGER_TYPES | {_Type.TYPE_STRING}
# Floats are left out: their text form is not a stable key (1e+20, nan, -0.0).
_TOKEN_TYPES = _ID_TYPES | {_Type.TYPE_BOOL, _Type.TYPE_ENUM}


class FileContext(Protocol):
    """What the event parser needs from the file being parsed (``parser._FileParser``)."""

    proto: descriptor_pb2.FileDescriptorProto
    module_scope: NameScope
    subjects: dict[str, str]
    """RPC method subjects of the file, and which method owns each."""

    comments: Comments

    def service_comment(
        self, index: int, service: str, option_version: str | None
    ) -> tuple[str, str | None]: ...

    def message(self, type_name: str) -> descriptor_pb2.DescriptorProto: ...

    def python_type(self, type_name: str, aliases: dict[str, str]) -> str: ...


def is_event_set(service: descriptor_pb2.ServiceDescriptorProto) -> bool:
    try:
        return read_events_options(service.options) is not None
    except OptionError:
        # Reported with its location when the service itself is parsed.
        return True


def check_not_event(options: descriptor_pb2.MethodOptions) -> None:
    """An RPC method carrying ``(natsrpc.event)`` most likely sits in the wrong service."""
    if read_event_options(options) is not None:
        raise OptionError(
            f"{EVENT_OPTION} is set, but the service is not a set of events: "
            f"mark the service with option {EVENTS_OPTION}, or drop {EVENT_OPTION}"
        )


class EventSetParser:
    """Claims module names for the event sets of one file, then models them."""

    def __init__(self, file: FileContext, aliases: dict[str, str]) -> None:
        self._file = file
        self._aliases = aliases
        self._claimed: list[
            tuple[int, descriptor_pb2.ServiceDescriptorProto, EventsOptions, tuple[str, str, str]]
        ] = []
        self._subjects: dict[str, tuple[str, str]] = {}
        """Filter subject (``{field}`` as ``*``) -> (template, owning service and method)."""

    def claim(self, index: int, service: descriptor_pb2.ServiceDescriptorProto) -> bool:
        """Take the service if it is marked ``(natsrpc.events)``, claiming its class names."""
        try:
            options = read_events_options(service.options)
        except OptionError as error:
            raise GenerationError(
                f"{self._file.proto.name}: service {service.name}: {error}"
            ) from None
        if options is None:
            return False
        scope = self._file.module_scope
        names = (
            scope.claim(service.name),
            scope.claim(f"{service.name}Publisher"),
            scope.claim(f"{upper_snake_case(service.name)}_SERVICE"),
        )
        self._claimed.append((index, service, options, names))
        return True

    def parse(self) -> tuple[EventSet, ...]:
        return tuple(self._event_set(*claimed) for claimed in self._claimed)

    def _event_set(
        self,
        index: int,
        service: descriptor_pb2.ServiceDescriptorProto,
        options: EventsOptions,
        names: tuple[str, str, str],
    ) -> EventSet:
        proto = self._file.proto
        full_name = f"{proto.package}.{service.name}" if proto.package else service.name
        where = f"{proto.name}: service {service.name}"
        try:
            service_options = read_service_options(service.options)
        except OptionError as error:
            raise GenerationError(f"{where}: {error}") from None
        if service_options.queue_group is not None:
            raise GenerationError(
                f"{where}: {SERVICE_OPTION}.queue_group does not apply to a set of events: "
                "consumer groups are chosen when the handlers are added to a server"
            )
        if not service.method:
            raise GenerationError(f"{where}: {EVENTS_OPTION} is set, but it declares no events")
        comment, version = self._file.service_comment(index, service.name, service_options.version)
        group = subject_group(full_name, service_options.subject_group or "")
        # Annotations are resolved in the class body first, so a method must not shadow
        # a module-level or builtin name that the signatures use.
        members = NameScope({"natsrpc", "float", *self._aliases.values()})
        events = []
        for method_index, method in enumerate(service.method):
            docstring = self._file.comments.method(index, method_index)
            try:
                events.append(self._event(method, group, members, service.name, docstring))
            except OptionError as error:
                raise GenerationError(f"{where}, method {method.name}: {error}") from None
        description = (
            one_line(comment)
            if service_options.description is None
            else service_options.description
        )
        handlers, publisher, constant = names
        return EventSet(
            name=service.name,
            full_name=full_name,
            handlers_class_name=handlers,
            publisher_class_name=publisher,
            constant=constant,
            docstring=comment,
            description=description,
            version=version,
            events=tuple(events),
            stream=options.stream,
            micro_name=service_options.name,
            metadata=service_options.metadata,
        )

    def _event(
        self,
        method: descriptor_pb2.MethodDescriptorProto,
        group: str,
        members: NameScope,
        service: str,
        docstring: str,
    ) -> Event:
        if method.client_streaming or method.server_streaming:
            raise OptionError(
                "an event cannot stream: declare it as "
                f"rpc {method.name}({method.input_type.lstrip('.')}) "
                "returns (google.protobuf.Empty)"
            )
        if method.output_type != _EMPTY:
            raise OptionError(
                f"an event returns google.protobuf.Empty, not {method.output_type.lstrip('.')}: "
                "events have no reply; use an RPC service for request and reply"
            )
        if has_method_options(method.options):
            raise OptionError(
                f"{METHOD_OPTION} does not apply to an event; use {EVENT_OPTION} instead"
            )
        options = read_event_options(method.options) or EventOptions()
        message = self._file.message(method.input_type)
        message_name = method.input_type.lstrip(".")
        # An event's subject option is the whole template, not a token after the group.
        subject = method_subject(group, method.name) if options.subject is None else options.subject
        subject_fields = _subject_fields(subject, message, message_name)
        if options.id_field is not None:
            _check_id_field(options.id_field, message, message_name)
        self._claim_subject(subject, f"service {service}, method {method.name}")
        return Event(
            name=method.name,
            attribute=members.claim(member_name(method.name).lstrip("_") or "event"),
            constant=self._file.module_scope.claim(
                f"{upper_snake_case(service)}_{upper_snake_case(method.name)}"
            ),
            event_type=self._file.python_type(method.input_type, self._aliases),
            message=message_name,
            subject=subject,
            subject_fields=subject_fields,
            id_field=options.id_field,
            docstring=docstring,
            description=one_line(docstring),
            metadata=options.metadata,
        )

    def _claim_subject(self, subject: str, owner: str) -> None:
        """Refuse a subject a subscriber of another event or method would also receive."""
        wanted = _PLACEHOLDER.sub("*", subject)
        taken = [(filter_subject, *pair) for filter_subject, pair in self._subjects.items()]
        taken += [(rpc, rpc, method) for rpc, method in self._file.subjects.items()]
        for filter_subject, other, other_owner in taken:
            if filter_subject == wanted:
                raise OptionError(
                    f"{EVENT_OPTION}.subject {subject!r} is already used by {other_owner}"
                    + ("" if other == subject else f" ({other!r})")
                    + "; give each event its own subject"
                )
            if _overlap(wanted, filter_subject):
                raise OptionError(
                    f"{EVENT_OPTION}.subject {subject!r} overlaps {other!r} of {other_owner}: "
                    "a subscriber to one would receive the other; tell them apart by a "
                    "literal token"
                )
        self._subjects[wanted] = (subject, owner)


def _overlap(first: str, second: str) -> bool:
    """Whether some subject matches both filters; neither holds ``>``."""
    left, right = first.split("."), second.split(".")
    if len(left) != len(right):
        return False
    return all(a == b or "*" in (a, b) for a, b in zip(left, right, strict=True))


def _subject_fields(
    subject: str, message: descriptor_pb2.DescriptorProto, message_name: str
) -> tuple[str, ...]:
    """Check a subject template; the fields its ``{field}`` tokens name, in order."""
    option = f"{EVENT_OPTION}.subject"
    fields = []
    for token in subject.split("."):
        if "{" not in token and "}" not in token:
            continue
        match = _PLACEHOLDER.fullmatch(token)
        if match is None:
            raise OptionError(
                f"{option} {subject!r}: {token!r} is not a placeholder; a placeholder is a "
                "whole token naming a field, such as {order_id}"
            )
        name = match.group("field")
        field = _field(message, name)
        problem = f"has no field {name!r}" if field is None else _token_problem(field, message)
        if problem:
            scalars = sorted(f.name for f in message.field if not _token_problem(f, message))
            hint = (
                f"fields that can be tokens: {', '.join(scalars)}"
                if scalars
                else "it has no field that can be a token"
            )
            raise OptionError(
                f"{option} {subject!r}: {{{name}}} cannot be a subject token: "
                f"{message_name} {problem}; {hint}"
            )
        fields.append(name)
    # The placeholders pass as literal tokens; the rest of the subject is held to NATS rules.
    check_subject(subject, option, single_token=False)
    return tuple(fields)


def _token_problem(
    field: descriptor_pb2.FieldDescriptorProto, message: descriptor_pb2.DescriptorProto
) -> str:
    what = f"field {field.name!r}"
    if field.label == _Type.LABEL_REPEATED:
        return f"{what} is a map" if _is_map(field, message) else f"{what} is repeated"
    if field.type in (_Type.TYPE_MESSAGE, _Type.TYPE_GROUP):
        return f"{what} is a message"
    if field.type not in _TOKEN_TYPES:
        return f"{what} is a {_type(field)}, not a string, integer, bool or enum"
    return ""


def _check_id_field(name: str, message: descriptor_pb2.DescriptorProto, message_name: str) -> None:
    option = f"{EVENT_OPTION}.id_field"
    field = _field(message, name)
    if field is None:
        raise OptionError(f"{option} {name!r}: {message_name} has no such field")
    if field.label == _Type.LABEL_REPEATED or field.type not in _ID_TYPES:
        raise OptionError(
            f"{option} {name!r} must be a single string or integer field of {message_name}, "
            f"not a {'repeated field' if field.label == _Type.LABEL_REPEATED else _type(field)}"
        )


def _type(field: descriptor_pb2.FieldDescriptorProto) -> str:
    return _Type.Type.Name(field.type).removeprefix("TYPE_").lower()


def _field(
    message: descriptor_pb2.DescriptorProto, name: str
) -> descriptor_pb2.FieldDescriptorProto | None:
    return next((field for field in message.field if field.name == name), None)


def _is_map(
    field: descriptor_pb2.FieldDescriptorProto, message: descriptor_pb2.DescriptorProto
) -> bool:
    entry = field.type_name.rsplit(".", 1)[-1]
    return any(nested.name == entry and nested.options.map_entry for nested in message.nested_type)
