"""Static descriptions of event sets, written out by the code generator.

A proto service marked ``option (natsrpc.events)`` is a set of events: each of
its methods takes the event message and returns ``google.protobuf.Empty``.
Generated modules build these specs once at import time, like ``MethodSpec``.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from natsrpc.spec import EMPTY_METADATA

EventT = TypeVar("EventT", bound=Message)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Retention(enum.Enum):
    """JetStream retention policies; values are the names nats-server uses."""

    LIMITS = "limits"
    INTEREST = "interest"
    WORK_QUEUE = "workqueue"


class Storage(enum.Enum):
    FILE = "file"
    MEMORY = "memory"


@dataclass(frozen=True)
class StreamSpec:
    """The JetStream stream an event set is stored in; None fields keep nats-server's default."""

    name: str
    retention: Retention = Retention.LIMITS
    storage: Storage = Storage.FILE
    replicas: int = 1
    max_age: float | None = None
    """Seconds an event is kept at most."""
    duplicate_window: float | None = None
    """Seconds within which a repeated ``Nats-Msg-Id`` is stored once."""


@dataclass(frozen=True, eq=False)
class EventSpec(Generic[EventT]):
    """One event: its proto identity, subject template and message class."""

    name: str
    """Proto method name, e.g. ``PlaceOrder`` or ``Placed``."""
    path: str
    """gRPC-style full name, e.g. ``/shop.OrderEvents/Placed``."""
    subject: str
    """Subject template before any runtime prefix, e.g. ``shop.orders.{order_id}.placed``;
    each ``{field}`` is a scalar field of the event."""
    attribute: str
    """Publisher method name, e.g. ``placed``; the handler is ``on_`` + this."""
    event_type: type[EventT]
    id_field: str | None = None
    """Field whose value identifies the event (``Nats-Msg-Id``); None: a fresh id per publish."""
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    @property
    def handler_attribute(self) -> str:
        return "on_" + self.attribute

    @functools.cached_property
    def subject_fields(self) -> tuple[str, ...]:
        """The event fields the subject template takes tokens from, in order (read per publish)."""
        return tuple(_PLACEHOLDER.findall(self.subject))

    @property
    def filter_subject(self) -> str:
        """The subject template with every ``{field}`` as ``*``, for subscriptions."""
        return _PLACEHOLDER.sub("*", self.subject)


@dataclass(frozen=True, eq=False)
class EventServiceSpec:
    """One proto service declared as a set of events."""

    full_name: str
    events: tuple[EventSpec[Any], ...]
    stream: StreamSpec | None = None
    """None: the events travel over core NATS, at most once."""
    description: str = ""
    version: str = "0.0.0"
    micro_name: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    @property
    def name(self) -> str:
        """The ADR-32 service name the handlers are discovered as."""
        return self.micro_name or self.full_name.replace(".", "-")
