"""Headers every call uses: content type, deadline, and the status of a failed call.

docs/protocol.md is the normative description; keep the two in step.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from urllib.parse import quote, unquote

from natsrpc import codec
from natsrpc.metadata import metadata_headers, user_metadata
from natsrpc.protocol.status_payload import (
    STATUS_DETAILS,
    details_from_payload,
    fits,
    status_payload,
)
from natsrpc.status import RpcError, status_from_wire

logger = logging.getLogger("natsrpc")

CONTENT_TYPE = "Content-Type"
TIMEOUT = "Rpc-Timeout-Ms"
"""Time the caller will still wait, in whole milliseconds, when the request is sent."""
SERVICE_ERROR = "Nats-Service-Error"
SERVICE_ERROR_CODE = "Nats-Service-Error-Code"
STATUS_MESSAGE = "Rpc-Status-Message"
"""The exact status message, percent-encoded UTF-8; sent only when ``Nats-Service-Error``
cannot carry the message as it is."""

# Percent-encoding keeps every byte that is printable ASCII except '%' itself, as gRPC's
# grpc-message does, so the encoded form stays readable.
_UNRESERVED = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _carries_verbatim(message: str) -> bool:
    # A header value is one line of printable ASCII, and NATS clients trim its ends.
    return message.isascii() and message.isprintable() and message == message.strip()


def error_headers(error: RpcError, trailers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers of a reply or end frame that fails a call with ``error``.

    ``Nats-Service-Error`` always holds a one-line readable form, which is the
    message itself whenever a header can carry it unchanged; otherwise the exact
    message travels percent-encoded in ``Rpc-Status-Message``.
    """
    headers = dict(trailers) if trailers else {}
    if error.metadata:
        try:
            headers.update(metadata_headers(error.metadata))
        except (TypeError, ValueError):
            logger.exception("dropped invalid metadata of an RpcError")
    message = error.message
    # An empty message is sent as the code's name, so a message that equals that name
    # travels encoded to stay distinguishable.
    if message and _carries_verbatim(message) and message != error.code.name:
        headers[SERVICE_ERROR] = message
    else:
        # Line breaks fold to spaces; other control and non-ASCII characters are escaped.
        readable = " ".join(message.split()).encode("unicode_escape").decode("ascii")
        headers[SERVICE_ERROR] = readable or error.code.name
        if message:
            headers[STATUS_MESSAGE] = _percent_encode(message)
    headers[SERVICE_ERROR_CODE] = str(int(error.code))
    return headers


def error_reply(
    error: RpcError,
    trailers: Mapping[str, str] | None,
    json: bool,
    max_payload: int,
    endpoint: str,
    frame_headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], bytes]:
    """The headers and payload of a reply or end frame that fails a call with ``error``.

    Its details, if any, travel in the payload when the whole error fits
    ``max_payload``; otherwise the error goes without them (docs/protocol.md §6.2).
    """
    headers = error_headers(error, trailers)
    if frame_headers:
        headers.update(frame_headers)
    if not error.details:
        return headers, b""
    try:
        payload = status_payload(error, json)
    except Exception:
        # The reply must go out whatever the details hold.
        logger.exception("%s: error details dropped, they could not be encoded", endpoint)
        return headers, b""
    if not payload:
        return headers, b""
    with_details = dict(headers)
    with_details[STATUS_DETAILS] = codec.JSON if json else codec.PROTOBUF
    if not fits(_header_block_size(with_details) + len(payload), max_payload, endpoint):
        return headers, b""
    return with_details, payload


def _header_block_size(headers: Mapping[str, str]) -> int:
    # "NATS/1.0\r\n", one "name: value\r\n" line each, and the closing "\r\n".
    return 12 + sum(len(name) + len(value) + 4 for name, value in headers.items())


def _percent_encode(message: str) -> str:
    encoded = quote(message, safe=_UNRESERVED)
    # NATS clients trim header values, so spaces at either end are encoded too.
    core = encoded.strip(" ")
    if not core:
        return "%20" * len(encoded)
    start = encoded.index(core)
    return "%20" * start + core + "%20" * (len(encoded) - start - len(core))


def is_error(headers: Mapping[str, str]) -> bool:
    return SERVICE_ERROR_CODE in headers or SERVICE_ERROR in headers


def error_from_headers(headers: Mapping[str, str], payload: bytes = b"") -> RpcError:
    """The ``RpcError`` an error reply or end frame (``is_error``) stands for, trailers and
    details included; ``payload`` is the message's payload, which may hold the details."""
    exact = headers.get(STATUS_MESSAGE)
    if exact is not None:
        message = unquote(exact, errors="replace")
    else:
        message = headers.get(SERVICE_ERROR, "")
    code = status_from_wire(headers.get(SERVICE_ERROR_CODE))
    if exact is None and message == code.name:
        message = ""
    details = details_from_payload(headers.get(STATUS_DETAILS), payload) if payload else ()
    return RpcError(code, message, user_metadata(headers), details)


def timeout_header(timeout: float) -> str | None:
    """The ``Rpc-Timeout-Ms`` value for a call that may take ``timeout`` seconds; None: no limit."""
    if math.isinf(timeout):
        return None
    return str(int(timeout * 1000))


# A caller sends the same few timeouts over and over: parsed once each, as
# every request pays for this.
_TIMEOUTS_KEPT = 256
_timeouts: dict[str, float] = {}


def deadline_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """The monotonic time the caller stops waiting, or None when it sent no deadline."""
    if not headers:
        return None
    value = headers.get(TIMEOUT)
    if value is None:
        return None
    seconds = _timeouts.get(value)
    if seconds is None:
        try:
            milliseconds = int(value)
        except ValueError:
            return None
        seconds = milliseconds / 1000.0 if milliseconds > 0 else 0.0
        if len(_timeouts) >= _TIMEOUTS_KEPT:
            _timeouts.clear()
        _timeouts[value] = seconds
    return time.monotonic() + seconds
