"""Call metadata: the user's key-value pairs, carried as NATS headers beside the protocol's own."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable, Mapping

logger = logging.getLogger("natsrpc")

MetadataValue = str | bytes
"""A metadata value: bytes for a key ending in ``-bin``, a printable ASCII string otherwise."""
MetadataLike = Mapping[str, MetadataValue] | Iterable[tuple[str, MetadataValue]]
"""Metadata as a mapping or as ``(key, value)`` pairs, as grpcio accepts it."""

BINARY_SUFFIX = "-bin"
"""Keys ending so carry bytes, base64 on the wire (docs/protocol.md §3.1), as in gRPC."""

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
    line breaks because NATS headers follow the HTTP/1 text format, except the
    bytes of a ``-bin`` key, which travel base64-encoded.
    """
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    headers: dict[str, str] = {}
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError(f"metadata keys must be str, got {key!r}")
        lowered = key.lower()
        if not _METADATA_KEY.fullmatch(lowered):
            raise ValueError(
                f"metadata key {key!r} is invalid: use letters, digits, '-', '_' and '.'"
            )
        if is_protocol_header(lowered):
            raise ValueError(f"metadata key {key!r} is reserved for the natsrpc protocol")
        if lowered.endswith(BINARY_SUFFIX):
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"metadata key {key!r} ends in '-bin' and takes bytes, not {value!r}"
                )
            headers[lowered] = base64.b64encode(value).decode("ascii")
            continue
        if not isinstance(value, str):
            raise TypeError(f"metadata value for {key!r} must be str, got {value!r}")
        if not value.isascii() or not value.isprintable():
            raise ValueError(f"metadata value for {key!r} must be printable ASCII")
        headers[lowered] = value
    return headers


def checked_metadata(metadata: MetadataLike) -> dict[str, MetadataValue]:
    """``metadata`` validated as ``metadata_headers`` does, as a dict: keys lower-cased,
    ``-bin`` values bytes. What client interceptors see and may change."""
    return user_metadata(metadata_headers(metadata))


def user_metadata(headers: Mapping[str, str] | None) -> dict[str, MetadataValue]:
    """The caller's metadata: every header the protocol does not own, ``-bin`` values decoded."""
    if not headers:
        return {}
    metadata: dict[str, MetadataValue] = {}
    for name, value in headers.items():
        if is_protocol_header(name):
            continue
        key = name.lower()
        if key.endswith(BINARY_SUFFIX):
            decoded = decode_binary(value)
            if decoded is None:
                logger.debug("dropped metadata %r: its value is not valid base64", key)
                continue
            metadata[key] = decoded
        else:
            metadata[key] = value
    return metadata


def decode_binary(value: str) -> bytes | None:
    """The bytes of a ``-bin`` value, padded or not; None when it is not base64."""
    stripped = value.strip().rstrip("=")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
