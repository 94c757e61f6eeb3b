"""The Connect protocol's wire details: content types, envelopes, error bodies, GET queries.

Only what the protocol defines lives here; docs/gateway.md says which parts the
gateway serves.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.any_pb2 import Any as AnyMessage

from natsrpc.gateway.headers import response_headers
from natsrpc.gateway.status_map import connect_name
from natsrpc.metadata import MetadataValue
from natsrpc.status import RpcError, StatusCode

UNARY_JSON = "application/json"
UNARY_PROTO = "application/proto"
STREAM_JSON = "application/connect+json"
STREAM_PROTO = "application/connect+proto"
UNARY_TYPES = (UNARY_PROTO, UNARY_JSON)
STREAM_TYPES = (STREAM_PROTO, STREAM_JSON)

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
_PREFIX = struct.Struct(">BI")
ENVELOPE_PREFIX_SIZE = _PREFIX.size


@dataclass(frozen=True)
class Encoding:
    """A request's codec: JSON or binary protobuf, unary or streaming."""

    json: bool
    streaming: bool

    @property
    def content_type(self) -> str:
        if self.streaming:
            return STREAM_JSON if self.json else STREAM_PROTO
        return UNARY_JSON if self.json else UNARY_PROTO


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def encoding_of(content_type: str | None) -> Encoding | None:
    """The Connect encoding a Content-Type names, or None for one Connect does not have."""
    kind = media_type(content_type)
    if kind in UNARY_TYPES:
        return Encoding(json=kind == UNARY_JSON, streaming=False)
    if kind in STREAM_TYPES:
        return Encoding(json=kind == STREAM_JSON, streaming=True)
    return None


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return _PREFIX.pack(flags, len(payload)) + payload


def single_envelope(body: bytes) -> tuple[bytes, bool]:
    """The one message of a server-streaming request's body, and whether it is compressed."""
    if len(body) < ENVELOPE_PREFIX_SIZE:
        raise RpcError(StatusCode.INVALID_ARGUMENT, "the request body holds no Connect envelope")
    flags, size = _PREFIX.unpack_from(body)
    if flags & FLAG_END_STREAM or len(body) != ENVELOPE_PREFIX_SIZE + size:
        raise RpcError(
            StatusCode.INVALID_ARGUMENT, "a server-streaming request must be exactly one message"
        )
    return body[ENVELOPE_PREFIX_SIZE:], bool(flags & FLAG_COMPRESSED)


def error_details(error: RpcError) -> list[dict[str, Any]]:
    """The error's ``details`` array: each ``Any`` as its full type name and its bytes.

    ``debug``, the detail as protobuf JSON, is added when the gateway knows the type.
    """
    details: list[dict[str, Any]] = []
    for detail in error.details:
        document: dict[str, Any] = {
            "type": detail.TypeName(),
            "value": base64.b64encode(detail.value).decode("ascii").rstrip("="),
        }
        debug = _debug_json(detail)
        if debug is not None:
            document["debug"] = debug
        details.append(document)
    return details


def _debug_json(detail: AnyMessage) -> dict[str, Any] | None:
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(detail.TypeName())
        message = message_factory.GetMessageClass(descriptor)()
        if not detail.Unpack(message):
            return None
        return json_format.MessageToDict(message)
    except (KeyError, json_format.Error, ValueError):
        return None  # an unknown type, or bytes that are not the message: the value suffices


def error_json(error: RpcError) -> dict[str, Any]:
    """Connect's error object: code name, message, details."""
    document: dict[str, Any] = {"code": connect_name(error.code)}
    if error.message:
        document["message"] = error.message
    details = error_details(error)
    if details:
        document["details"] = details
    return document


def end_stream_message(error: RpcError | None, trailers: Mapping[str, MetadataValue]) -> bytes:
    """The last envelope of a streaming response: the error if any, and the trailers."""
    document: dict[str, Any] = {}
    if error is not None:
        document["error"] = error_json(error)
    metadata = response_headers(trailers)
    if metadata:
        document["metadata"] = {name: [value] for name, value in metadata}
    return envelope(json.dumps(document).encode(), FLAG_END_STREAM)


@dataclass(frozen=True)
class GetRequest:
    """A unary call sent as ``GET ?connect=v1&encoding=...&message=...``."""

    encoding: Encoding
    message: bytes
    compression: str | None


def parse_get_query(query_string: bytes) -> GetRequest:
    try:
        query = parse_qs(query_string.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise RpcError(StatusCode.INVALID_ARGUMENT, "the query string is not ASCII") from None

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    version = one("connect")
    if version is not None and version != "v1":
        raise RpcError(StatusCode.INVALID_ARGUMENT, f"unsupported connect version {version!r}")
    encoding = one("encoding")
    if encoding not in ("json", "proto"):
        raise RpcError(
            StatusCode.INVALID_ARGUMENT, "a GET request needs encoding=json or encoding=proto"
        )
    text = one("message") or ""
    if one("base64") == "1":
        try:
            padded = text + "=" * (-len(text) % 4)
            data = base64.b64decode(padded, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise RpcError(StatusCode.INVALID_ARGUMENT, "message is not URL-safe base64") from None
    else:
        data = text.encode()
    return GetRequest(Encoding(json=encoding == "json", streaming=False), data, one("compression"))
