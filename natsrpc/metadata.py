"""Call metadata: the user's key-value pairs, carried as NATS headers beside the protocol's own."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

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
