"""Status codes and the error type every failed call raises."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from google.rpc import status_pb2

from natsrpc.details import DetailT, ErrorDetails, first_detail, pack_details
from natsrpc.spec import EMPTY_METADATA, MethodSpec


class StatusCode(enum.IntEnum):
    """The gRPC status codes, with gRPC's names and numbers."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    def __call__(self) -> StatusCode:
        """The code itself, so grpc.aio's ``error.code()`` reads the same as ``error.code``."""
        return self


INTERNAL_ERROR_MESSAGE = "internal error"
"""All a caller learns of an unexpected failure; the details go to the server's log."""


class RpcError(Exception):
    """A call ended with a status other than OK.

    Raised by clients for every failure (including transport failures, mapped to
    UNAVAILABLE or DEADLINE_EXCEEDED), and raised by handlers to fail a call
    with a chosen status; ``metadata`` travels to the caller as trailers, and
    ``details`` (protobuf messages, packed into ``Any``, or ``Any``s as given)
    as the status's details (gRPC's richer error model).
    """

    def __init__(
        self,
        code: StatusCode,
        message: str = "",
        metadata: Mapping[str, str | bytes] | None = None,
        details: Iterable[Message] = (),
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.metadata: Mapping[str, str | bytes] = (
            MappingProxyType(dict(metadata)) if metadata else EMPTY_METADATA
        )
        self._details = pack_details(details) if details else ()

    @property
    def details(self) -> ErrorDetails:
        """The details as ``Any`` messages, exactly as sent.

        Calling it, ``error.details()``, gives the status message as grpc.aio does.
        """
        return ErrorDetails(self._details, self.message)

    def detail(self, detail_type: type[DetailT]) -> DetailT | None:
        """The first detail of type ``detail_type`` (``error.detail(BadRequest)``), or None."""
        return first_detail(self._details, detail_type)

    def trailing_metadata(self) -> Mapping[str, str | bytes]:
        """The trailers the call ended with, under grpc.aio's name for them."""
        return self.metadata

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name

    def __repr__(self) -> str:
        return f"RpcError({self.code.name}, {self.message!r})"


# How gRPC maps HTTP statuses (doc/http-grpc-status-mapping.md); ADR-32 services
# written by hand often use HTTP-like numbers, so a foreign reply maps the same way.
_HTTP_TO_STATUS = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


def status_from_wire(code: str | None) -> StatusCode:
    """Interpret a ``Nats-Service-Error-Code`` value from any ADR-32 service.

    Reserved only for replies that carry an error, so OK (0), a missing or a
    malformed value all mean UNKNOWN.
    """
    try:
        number = int(code) if code is not None else 0
    except ValueError:
        return StatusCode.UNKNOWN
    if 0 < number <= StatusCode.UNAUTHENTICATED:
        return StatusCode(number)
    return _HTTP_TO_STATUS.get(number, StatusCode.UNKNOWN)


def to_status(error: RpcError) -> status_pb2.Status:
    """``error`` as a ``google.rpc.Status``, as grpcio-status's ``rpc_status`` works with."""
    return status_pb2.Status(code=int(error.code), message=error.message, details=error.details)


def serialized_status(error: RpcError) -> bytes:
    """``error`` as a serialized ``google.rpc.Status``: gRPC's ``grpc-status-details-bin``."""
    return to_status(error).SerializeToString()


def from_status(
    status: status_pb2.Status, metadata: Mapping[str, str | bytes] | None = None
) -> RpcError:
    """The ``RpcError`` a ``google.rpc.Status`` stands for; raise it to fail a call with it.

    A code outside gRPC's range is UNKNOWN, as on the wire; an OK status is no error.
    """
    if status.code == StatusCode.OK:
        raise ValueError("an OK status is not an error")
    details: list[AnyMessage] = []
    for detail in status.details:
        kept = AnyMessage()
        kept.CopyFrom(detail)
        details.append(kept)
    return RpcError(status_from_wire(str(status.code)), status.message, metadata, details)


def unimplemented(method: MethodSpec[Any, Any]) -> RpcError:
    """The error a generated base-class method raises until it is overridden."""
    return RpcError(StatusCode.UNIMPLEMENTED, f"method {method.path} is not implemented")


class _CallTiming(Protocol):
    def time_remaining(self) -> float | None: ...


def status_of(error: BaseException | None, context: _CallTiming | None = None) -> StatusCode:
    """The status a call ends with when ``error`` (None: success) ends it.

    For interceptors that record outcomes. On the server, give the handler's
    ``context``: a cancelled handler is DEADLINE_EXCEEDED when the deadline has
    passed, CANCELLED otherwise, and an unexpected exception is INTERNAL as the
    server answers it. On the client, anything but an ``RpcError`` is UNKNOWN.
    """
    if error is None:
        return StatusCode.OK
    if isinstance(error, RpcError):
        return error.code
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        if context is not None and context.time_remaining() == 0.0:
            return StatusCode.DEADLINE_EXCEEDED
        return StatusCode.CANCELLED
    return StatusCode.INTERNAL if context is not None else StatusCode.UNKNOWN
