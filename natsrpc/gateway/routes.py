"""What the gateway can call: one route per method, with a typed and a pass-through form.

The pass-through form's message class holds the encoded bytes as they came, so
a binary request goes to NATS, and its reply back to the caller, without being
parsed or encoded again; the natsrpc client still does everything else
(deadlines, metadata, cancellation, interceptors). The typed form, with message
classes built from the schema, is for JSON, which has to be converted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from natsrpc.cli.schema import method_spec
from natsrpc.spec import Idempotency, MethodKind, MethodSpec, ServiceSpec

_IDEMPOTENCY = {
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS: Idempotency.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT: Idempotency.IDEMPOTENT,
}


class RawMessage(Message):
    """A message kept as its encoded bytes: ``SerializeToString`` gives them back unchanged."""

    __slots__ = ("data",)

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def SerializeToString(self, **_: Any) -> bytes:
        return self.data

    @classmethod
    def FromString(cls, s: bytes) -> RawMessage:
        return cls(bytes(s))


@dataclass(frozen=True)
class Route:
    """One callable method, by its gRPC path ``/pkg.Service/Method``."""

    service: str
    """The proto service's full name, which allow- and deny-lists match."""
    typed: MethodSpec[Any, Any]
    """With the schema's message classes: for JSON."""
    raw: MethodSpec[RawMessage, RawMessage]
    """With ``RawMessage`` both ways: bytes through unchanged."""

    @property
    def path(self) -> str:
        return self.typed.path

    @property
    def kind(self) -> MethodKind:
        return self.typed.kind

    @property
    def side_effect_free(self) -> bool:
        """Whether Connect's GET may call it (``idempotency_level = NO_SIDE_EFFECTS``)."""
        return self.typed.idempotency is Idempotency.NO_SIDE_EFFECTS


def route_from_spec(service: str, typed: MethodSpec[Any, Any]) -> Route:
    raw = dataclasses.replace(typed, request_type=RawMessage, response_type=RawMessage)
    return Route(service=service, typed=typed, raw=raw)


def route_from_descriptor(method: MethodDescriptor) -> Route:
    """A route for a method found in a descriptor pool (reflection, --proto, --protoset)."""
    idempotency = _IDEMPOTENCY.get(method.GetOptions().idempotency_level, Idempotency.UNKNOWN)
    typed = dataclasses.replace(method_spec(method), idempotency=idempotency)
    return route_from_spec(method.containing_service.full_name, typed)


def routes_of_service_spec(spec: ServiceSpec) -> list[Route]:
    """Routes for a generated module's service, whose message classes are the generated ones."""
    return [route_from_spec(spec.full_name, method) for method in spec.methods]
