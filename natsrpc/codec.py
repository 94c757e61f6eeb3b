"""Message encodings: protobuf binary by default, protobuf JSON on request."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from natsrpc.spec import MethodSpec
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode

logger = logging.getLogger("natsrpc")

PROTOBUF = "application/protobuf"
JSON = "application/json"

MessageT = TypeVar("MessageT", bound=Message)


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type header asks for JSON; parameters such as charset are ignored."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON:
        return True
    if media_type in (PROTOBUF, "application/x-protobuf", "application/octet-stream"):
        return False
    raise RpcError(StatusCode.INVALID_ARGUMENT, f"unsupported Content-Type {content_type!r}")


def decode(message_type: type[MessageT], data: bytes, json: bool) -> MessageT:
    """Parse ``data``; a payload that does not parse is the caller's INVALID_ARGUMENT."""
    try:
        if json:
            return json_format.Parse(data or b"{}", message_type(), ignore_unknown_fields=False)
        return message_type.FromString(data)
    except (DecodeError, json_format.ParseError, ValueError) as exc:
        kind = "JSON" if json else "protobuf"
        raise RpcError(
            StatusCode.INVALID_ARGUMENT,
            f"payload is not a valid {kind} {message_type.DESCRIPTOR.full_name}",
        ) from exc


def encode_response(method: MethodSpec[Any, Any], response: object, json: bool) -> bytes:
    """Encode what a handler produced; anything but the method's response type is INTERNAL.

    A wrong type is the service's bug: it is logged here, and the caller only
    learns that the call failed.
    """
    if not isinstance(response, method.response_type):
        logger.error(
            "%s produced %s, not %s",
            method.path,
            type(response).__name__,
            method.response_type.__name__,
        )
        raise RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
    return encode(response, json)


def encode(message: Message, json: bool) -> bytes:
    if json:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def check_size(size: int, max_payload: int, what: str) -> None:
    """Refuse a message the NATS server would reject, before it is sent."""
    if size > max_payload:
        raise RpcError(
            StatusCode.RESOURCE_EXHAUSTED,
            f"{what} of {size} bytes exceeds the NATS server's max_payload of {max_payload} bytes",
        )
