"""Header names and metadata rules shared by the client and the server.

docs/protocol.md is the normative description; keep the two in step.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from nats import errors as nats_errors

from natsrpc.status import RpcError, StatusCode

logger = logging.getLogger("natsrpc")

CONTENT_TYPE = "Content-Type"
TIMEOUT = "Rpc-Timeout-Ms"
"""Time the caller will still wait, in whole milliseconds, when the request is sent."""
SERVICE_ERROR = "Nats-Service-Error"
SERVICE_ERROR_CODE = "Nats-Service-Error-Code"

MetadataLike = Mapping[str, str] | Iterable[tuple[str, str]]
"""Metadata as a mapping or as ``(key, value)`` pairs, as grpcio accepts it."""

_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
# Headers the protocol owns; user metadata may not use these names or prefixes.
_RESERVED_PREFIXES = ("nats-", "rpc-")
_RESERVED_KEYS = frozenset({"content-type"})


def is_protocol_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _RESERVED_KEYS or lowered.startswith(_RESERVED_PREFIXES)


def metadata_headers(metadata: MetadataLike) -> dict[str, str]:
    """Validate user metadata and return it as NATS headers.

    Keys are lower-cased like gRPC's; values must be printable ASCII without
    line breaks because NATS headers follow the HTTP/1 text format.
    """
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    headers: dict[str, str] = {}
    for key, value in items:
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata keys and values must be str, got {key!r}: {value!r}")
        lowered = key.lower()
        if not _METADATA_KEY.fullmatch(lowered):
            raise ValueError(
                f"metadata key {key!r} is invalid: use letters, digits, '-', '_' and '.'"
            )
        if is_protocol_header(lowered):
            raise ValueError(f"metadata key {key!r} is reserved for the natsrpc protocol")
        if not value.isascii() or not value.isprintable():
            raise ValueError(f"metadata value for {key!r} must be printable ASCII")
        headers[lowered] = value
    return headers


def user_metadata(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's metadata: every header the protocol does not own."""
    if not headers:
        return {}
    return {k.lower(): v for k, v in headers.items() if not is_protocol_header(k)}


CONNECTION_ERRORS = (
    nats_errors.ConnectionClosedError,
    nats_errors.ConnectionDrainingError,
    nats_errors.OutboundBufferLimitError,
)
"""What nats-py raises when the connection cannot take a publish at all."""


def connection_unusable(error: Exception) -> RpcError:
    """The status of a call whose connection cannot send (closed, draining, buffer full)."""
    return RpcError(StatusCode.UNAVAILABLE, f"NATS connection unusable: {error}")


def is_no_responders(data: bytes, headers: Mapping[str, str] | None) -> bool:
    """Whether a message is nats-server's "no responders" status: nobody serves the subject."""
    return not data and headers is not None and headers.get("Status") == "503"


def error_headers(error: RpcError, trailers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers of a reply or end frame that fails a call with ``error``."""
    headers = dict(trailers) if trailers else {}
    if error.metadata:
        try:
            headers.update(metadata_headers(error.metadata))
        except (TypeError, ValueError):
            logger.exception("dropped invalid metadata of an RpcError")
    # A header value cannot hold line breaks; keep the message on one line.
    headers[SERVICE_ERROR] = " ".join((error.message or error.code.name).split())
    headers[SERVICE_ERROR_CODE] = str(int(error.code))
    return headers


def check_payload_size(size: int, max_payload: int, what: str) -> None:
    """Refuse a message the NATS server would reject, before it is sent."""
    if size > max_payload:
        raise RpcError(
            StatusCode.RESOURCE_EXHAUSTED,
            f"{what} of {size} bytes exceeds the NATS server's max_payload of {max_payload} bytes",
        )
