"""Error details: typed messages an error carries beside its code and message, as ``Any``s.

gRPC's richer error model (``google.rpc.Status``): a handler attaches messages such as
``google.rpc.BadRequest`` and the caller unpacks them by type. docs/protocol.md §6.2 says
how they travel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

DetailT = TypeVar("DetailT", bound=Message)


def pack_details(details: Iterable[Message]) -> tuple[AnyMessage, ...]:
    """Each detail as an ``Any``: a message is packed, an ``Any`` kept as given."""
    packed: list[AnyMessage] = []
    for detail in details:
        if isinstance(detail, AnyMessage):
            packed.append(detail)
        elif isinstance(detail, Message):
            wrapper = AnyMessage()
            wrapper.Pack(detail)
            packed.append(wrapper)
        else:
            raise TypeError(f"error details must be protobuf messages, got {detail!r}")
    return tuple(packed)


def first_detail(details: Iterable[AnyMessage], detail_type: type[DetailT]) -> DetailT | None:
    """The first detail of type ``detail_type``, unpacked; None when there is none."""
    for detail in details:
        message = detail_type()
        # Unpack refuses, returning False, an Any of another type.
        if detail.Unpack(message):
            return message
    return None


class ErrorDetails(tuple[AnyMessage, ...]):
    """An error's details, the ``Any`` messages exactly as sent.

    It is a tuple; calling it returns the status message instead, because grpc.aio
    names the message ``error.details()`` and code written for it must keep working.
    """

    _message: str

    def __new__(cls, details: Iterable[AnyMessage], message: str) -> ErrorDetails:
        instance = super().__new__(cls, details)
        instance._message = message
        return instance

    def __call__(self) -> str:
        """The status message, under grpc.aio's name for it."""
        return self._message
