"""An error's details on the wire: a ``google.rpc.Status`` as its payload (protocol.md §6.2).

The ADR-32 headers keep the code and the message; the payload only adds the details,
so a peer that ignores it loses nothing else.
"""

from __future__ import annotations

import json as jsonlib
import logging
from typing import Any

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from natsrpc import codec
from natsrpc.status import RpcError, to_status

logger = logging.getLogger("natsrpc")

STATUS_DETAILS = "Rpc-Status-Details"
"""Present on an error whose payload holds its details; the value is the payload's media type."""


def status_payload(error: RpcError, json: bool) -> bytes:
    """The payload of an error that has details, in the call's encoding; empty when none
    of them can be written in it."""
    if not json:
        return to_status(error).SerializeToString()
    details: list[dict[str, Any]] = []
    for detail in error.details:
        try:
            details.append(json_format.MessageToDict(detail))
        except (TypeError, KeyError) as exc:
            # JSON needs the detail's type to write its fields; the binary form does not.
            logger.warning(
                "left out an error detail JSON cannot carry (%s): %s", detail.type_url, exc
            )
    if not details:
        return b""
    status = {"code": int(error.code), "message": error.message, "details": details}
    return jsonlib.dumps(status, separators=(",", ":")).encode()


def details_from_payload(media_type: str | None, payload: bytes) -> tuple[AnyMessage, ...]:
    """The details an error's payload holds; empty when it holds none that can be read."""
    if media_type is None or not payload:
        return ()
    try:
        json = codec.is_json(media_type)
    except RpcError:
        logger.debug("ignored error details of unknown media type %r", media_type)
        return ()
    if not json:
        try:
            return tuple(status_pb2.Status.FromString(payload).details)
        except DecodeError:
            logger.debug("ignored error details that are not a valid google.rpc.Status")
            return ()
    try:
        parsed = jsonlib.loads(payload)
        entries = parsed.get("details", []) if isinstance(parsed, dict) else None
    except ValueError:
        entries = None
    if not isinstance(entries, list):
        logger.debug("ignored error details that are not a JSON google.rpc.Status")
        return ()
    details: list[AnyMessage] = []
    for entry in entries:
        try:
            details.append(json_format.ParseDict(entry, AnyMessage()))
        except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
            # A JSON Any can only be read by a receiver that knows its type.
            logger.debug("left out an error detail that could not be read: %s", exc)
    return tuple(details)


_dropped_for: set[str] = set()


def fits(size: int, max_payload: int, endpoint: str) -> bool:
    """Whether an error with details of ``size`` bytes in all fits; logs once per endpoint."""
    if size <= max_payload:
        return True
    if endpoint not in _dropped_for:
        _dropped_for.add(endpoint)
        logger.warning(
            "%s: error details dropped, the error would be %d bytes, over max_payload %d "
            "(logged once per endpoint)",
            endpoint or "a call",
            size,
            max_payload,
        )
    return False
