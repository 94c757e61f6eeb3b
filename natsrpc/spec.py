"""Static descriptions of services and methods, written out by the code generator.

Generated modules build these once at import time so that no descriptor is
looked up while a call is in flight.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

# Defined beside the subject rule so that the plugin can use it without the runtime.
from natsrpc.contract import MethodKind as MethodKind

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)

EMPTY_METADATA: Mapping[str, str] = MappingProxyType({})
"""The shared read-only empty mapping for metadata that is absent."""


class Idempotency(enum.Enum):
    """Mirror of protobuf's ``MethodOptions.IdempotencyLevel``; the retry policy reads it."""

    UNKNOWN = "unknown"
    NO_SIDE_EFFECTS = "no_side_effects"
    IDEMPOTENT = "idempotent"

    @property
    def retry_safe(self) -> bool:
        return self is not Idempotency.UNKNOWN


@dataclass(frozen=True, eq=False)
class MethodSpec(Generic[RequestT, ResponseT]):
    """One RPC method: its proto identity, NATS subject token and message classes.

    ``eq=False`` keeps identity hashing, which is what per-client caches key on.
    """

    name: str
    """Proto method name, e.g. ``SayHello``."""
    path: str
    """gRPC-style full method name, e.g. ``/helloworld.Greeter/SayHello``."""
    subject: str
    """NATS subject before any runtime prefix, e.g. ``helloworld.Greeter.SayHello``."""
    attribute: str
    """Python attribute on the generated classes, e.g. ``say_hello``."""
    kind: MethodKind
    request_type: type[RequestT]
    response_type: type[ResponseT]
    timeout: float | None = None
    """Default client timeout in seconds from the proto options, if any."""
    idempotency: Idempotency = Idempotency.UNKNOWN
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)
    description: str = ""

    def check_request(self, request: object) -> None:
        """Fail early, in the caller's code, on a request of the wrong message type."""
        if not isinstance(request, self.request_type):
            raise TypeError(
                f"{self.path} takes {self.request_type.__name__}, not {type(request).__name__}"
            )


@dataclass(frozen=True, eq=False)
class ServiceSpec:
    """One proto service and the ADR-32 service it is served as."""

    full_name: str
    """Fully qualified proto name, e.g. ``helloworld.Greeter``."""
    methods: tuple[MethodSpec[Any, Any], ...]
    description: str = ""
    version: str = "0.0.0"
    micro_name: str = ""
    """ADR-32 service name; empty means the proto full name with dots as dashes."""
    queue_group: str = ""
    """Queue group; empty means the runtime default ``q``."""
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)

    @property
    def name(self) -> str:
        """The ADR-32 service name."""
        return self.micro_name or self.full_name.replace(".", "-")
