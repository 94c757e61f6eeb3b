"""Reading and checking the ``(natsrpc.service)`` and ``(natsrpc.method)`` options.

The extensions are defined in ``natsrpc/options.proto``. protoc sends a service's
options as serialized bytes in which our extensions may still be unknown fields,
so they are parsed again here with ``natsrpc.options_pb2`` registered.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf import descriptor_pb2, duration_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from natsrpc import options_pb2
from natsrpc.contract import NAME_PATTERN, SEMVER_PATTERN

from .models import Stream

SERVICE_OPTION = "(natsrpc.service)"
METHOD_OPTION = "(natsrpc.method)"
EVENTS_OPTION = "(natsrpc.events)"
EVENT_OPTION = "(natsrpc.event)"
_RESERVED_METADATA_PREFIX = "rpc."


class OptionError(ValueError):
    """An option has a value natsrpc cannot use; the message names the option."""


@dataclass(frozen=True)
class ServiceOptions:
    name: str | None = None
    version: str | None = None
    description: str | None = None
    subject_group: str | None = None
    queue_group: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MethodOptions:
    subject: str | None = None
    timeout: float | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EventsOptions:
    stream: Stream | None = None
    """None: the events travel over core NATS."""


@dataclass(frozen=True)
class EventOptions:
    subject: str | None = None
    """Subject template as written; :mod:`.events` checks it against the event's fields."""
    id_field: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


_RETENTION: dict[int, str] = {
    options_pb2.EventsOptions.LIMITS: "LIMITS",
    options_pb2.EventsOptions.INTEREST: "INTEREST",
    options_pb2.EventsOptions.WORK_QUEUE: "WORK_QUEUE",
}
_STORAGE: dict[int, str] = {
    options_pb2.EventsOptions.FILE: "FILE",
    options_pb2.EventsOptions.MEMORY: "MEMORY",
}
_MAX_REPLICAS = 5
# JetStream keeps streams in directories named after them, hence the path separators.
_STREAM_NAME_FORBIDDEN = ".*>/\\"


def read_service_options(raw: descriptor_pb2.ServiceOptions) -> ServiceOptions:
    """The checked ``(natsrpc.service)`` values of one service; defaults when it has none."""
    ext = _extension(
        _reparse(descriptor_pb2.ServiceOptions, raw, SERVICE_OPTION), options_pb2.service
    )
    if not isinstance(ext, options_pb2.ServiceOptions):
        return ServiceOptions()
    name = _present(ext, "name")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise OptionError(
            f"{SERVICE_OPTION}.name {name!r} is not a valid NATS service name: "
            "use letters, digits, '-' and '_'"
        )
    version = _present(ext, "version")
    if version is not None:
        check_version(version, f"{SERVICE_OPTION}.version")
    subject_group = _present(ext, "subject_group")
    if subject_group is not None:
        check_subject(subject_group, f"{SERVICE_OPTION}.subject_group", single_token=False)
    queue_group = _present(ext, "queue_group")
    if queue_group is not None:
        _check_queue_group(queue_group)
    return ServiceOptions(
        name=name,
        version=version,
        description=_present(ext, "description"),
        subject_group=subject_group,
        queue_group=queue_group,
        metadata=_metadata(ext.metadata, f"{SERVICE_OPTION}.metadata", reserved=False),
    )


def read_method_options(raw: descriptor_pb2.MethodOptions) -> MethodOptions:
    """The checked ``(natsrpc.method)`` values of one method; defaults when it has none."""
    ext = _extension(_reparse(descriptor_pb2.MethodOptions, raw, METHOD_OPTION), options_pb2.method)
    if not isinstance(ext, options_pb2.MethodOptions):
        return MethodOptions()
    subject = _present(ext, "subject")
    if subject is not None:
        check_subject(subject, f"{METHOD_OPTION}.subject", single_token=True)
    timeout = None
    if ext.HasField("timeout"):
        timeout = positive_seconds(ext.timeout, f"{METHOD_OPTION}.timeout")
    return MethodOptions(
        subject=subject,
        timeout=timeout,
        metadata=_metadata(ext.metadata, f"{METHOD_OPTION}.metadata", reserved=True),
    )


def positive_seconds(duration: duration_pb2.Duration, option: str) -> float:
    seconds, nanos = duration.seconds, duration.nanos
    if seconds < 0 or nanos < 0 or nanos >= 1_000_000_000 or (seconds == 0 and nanos == 0):
        raise OptionError(
            f"{option} {{seconds: {seconds} nanos: {nanos}}} is not a "
            "positive duration (seconds >= 0, 0 <= nanos < 1e9, not both zero)"
        )
    return seconds + nanos / 1e9


def read_events_options(raw: descriptor_pb2.ServiceOptions) -> EventsOptions | None:
    """The checked ``(natsrpc.events)`` of a service; None when the service is not marked."""
    ext = _extension(
        _reparse(descriptor_pb2.ServiceOptions, raw, EVENTS_OPTION), options_pb2.events
    )
    if not isinstance(ext, options_pb2.EventsOptions):
        return None
    stream = _present(ext, "stream")
    if stream is None:
        settings = {
            "retention": ext.retention != 0,
            "storage": ext.storage != 0,
            **{name: ext.HasField(name) for name in ("replicas", "max_age", "duplicate_window")},
        }
        for name, is_set in settings.items():
            if is_set:
                raise OptionError(
                    f"{EVENTS_OPTION}.{name} needs {EVENTS_OPTION}.stream: without a stream "
                    "the events travel over core NATS and are not stored"
                )
        return EventsOptions()
    _check_stream_name(stream)
    return EventsOptions(
        stream=Stream(
            name=stream,
            retention=_enum_member(ext.retention, _RETENTION, "retention"),
            storage=_enum_member(ext.storage, _STORAGE, "storage"),
            replicas=_replicas(ext),
            max_age=(
                positive_seconds(ext.max_age, f"{EVENTS_OPTION}.max_age")
                if ext.HasField("max_age")
                else None
            ),
            duplicate_window=(
                positive_seconds(ext.duplicate_window, f"{EVENTS_OPTION}.duplicate_window")
                if ext.HasField("duplicate_window")
                else None
            ),
        )
    )


def read_event_options(raw: descriptor_pb2.MethodOptions) -> EventOptions | None:
    """The ``(natsrpc.event)`` values of one method; None when it has none.

    The subject and id field are checked against the event message by :mod:`.events`.
    """
    ext = _extension(_reparse(descriptor_pb2.MethodOptions, raw, EVENT_OPTION), options_pb2.event)
    if not isinstance(ext, options_pb2.EventOptions):
        return None
    return EventOptions(
        subject=_present(ext, "subject"),
        id_field=_present(ext, "id_field"),
        metadata=_metadata(ext.metadata, f"{EVENT_OPTION}.metadata", reserved=True),
    )


def has_method_options(raw: descriptor_pb2.MethodOptions) -> bool:
    """Whether ``(natsrpc.method)`` is set, which only RPC methods may have."""
    parsed = _reparse(descriptor_pb2.MethodOptions, raw, METHOD_OPTION)
    return _extension(parsed, options_pb2.method) is not None


def _check_stream_name(stream: str) -> None:
    option = f"{EVENTS_OPTION}.stream"
    if not stream:
        raise OptionError(f"{option} is empty; leave it unset for core NATS events")
    bad = _bad_character(stream, _STREAM_NAME_FORBIDDEN)
    if bad:
        raise OptionError(
            f"{option} {stream!r} is not a valid JetStream stream name: it contains {bad}"
        )


def _enum_member(value: int, members: Mapping[int, str], name: str) -> str | None:
    if value == 0:
        return None
    if value not in members:
        names = list(members.values())
        raise OptionError(
            f"{EVENTS_OPTION}.{name} {value} is not a known value: use "
            + ", ".join(names[:-1])
            + f" or {names[-1]}"
        )
    return members[value]


def _replicas(ext: options_pb2.EventsOptions) -> int | None:
    if not ext.HasField("replicas"):
        return None
    if not 1 <= ext.replicas <= _MAX_REPLICAS:
        raise OptionError(
            f"{EVENTS_OPTION}.replicas {ext.replicas} is out of range: JetStream keeps "
            f"1 to {_MAX_REPLICAS} copies of a stream"
        )
    return ext.replicas


def check_version(version: str, option: str) -> None:
    if not SEMVER_PATTERN.fullmatch(version):
        raise OptionError(f"{option} {version!r} is not a semantic version such as 1.2.3")


def check_subject(subject: str, option: str, *, single_token: bool) -> None:
    """Subject tokens as NATS allows them in a literal subject a service subscribes to."""
    what = "subject token" if single_token else "subject"
    if single_token and "." in subject:
        raise OptionError(f"{option} {subject!r} must be a single {what}, without '.'")
    for token in subject.split("."):
        if not token:
            raise OptionError(f"{option} {subject!r} has an empty token")
        bad = _bad_character(token, "*>")
        if bad:
            raise OptionError(f"{option} {subject!r} is not a valid {what}: it contains {bad}")


def _check_queue_group(queue_group: str) -> None:
    option = f"{SERVICE_OPTION}.queue_group"
    if not queue_group:
        raise OptionError(f"{option} is empty; leave it unset for the default queue group")
    bad = _bad_character(queue_group, "")
    if bad:
        raise OptionError(f"{option} {queue_group!r} is not a valid queue group: it contains {bad}")


def _bad_character(text: str, forbidden: str) -> str | None:
    for char in text:
        if char in forbidden:
            return f"the wildcard {char!r}" if char in "*>" else repr(char)
        if char.isspace():
            return "whitespace"
        if unicodedata.category(char).startswith("C"):
            return f"the control character {char!r}"
    return None


def _metadata(
    entries: Mapping[str, str], option: str, *, reserved: bool
) -> tuple[tuple[str, str], ...]:
    for key in entries:
        if not key:
            raise OptionError(f"{option} has an empty key")
        if reserved and key.startswith(_RESERVED_METADATA_PREFIX):
            raise OptionError(
                f"{option} key {key!r} is reserved: the runtime sets the 'rpc.' keys itself"
            )
    return tuple(sorted(entries.items()))


def _present(
    message: options_pb2.ServiceOptions
    | options_pb2.MethodOptions
    | options_pb2.EventsOptions
    | options_pb2.EventOptions,
    name: str,
) -> str | None:
    """A proto3 ``optional string`` field: None when unset; an explicit ``""`` is kept."""
    if not message.HasField(name):
        return None
    value = getattr(message, name)
    assert isinstance(value, str)
    return value


def _extension(options: Message, extension: FieldDescriptor) -> object:
    """The value of ``extension`` in ``options``, or None when it is not set."""
    # ListFields rather than Extensions[...]: protoc's .pyi types the extension as a
    # plain FieldDescriptor, which types-protobuf's Extensions does not accept.
    for field, value in options.ListFields():
        if field.is_extension and field.full_name == extension.full_name:
            return value
    return None


_OptionsT = TypeVar("_OptionsT", descriptor_pb2.ServiceOptions, descriptor_pb2.MethodOptions)


def _reparse(cls: type[_OptionsT], raw: _OptionsT, option: str) -> _OptionsT:
    try:
        return cls.FromString(raw.SerializeToString())
    except DecodeError as error:
        raise OptionError(
            f"{option} does not decode as natsrpc/options.proto defines it "
            f"(is an older or foreign copy of that file on the include path?): {error}"
        ) from None
